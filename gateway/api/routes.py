"""The route table, whole, and the aiohttp application built from it.

`ROUTES` joins every resource module's declarations; `create_app` mounts them, the auth middleware
authorizes from them and `/api/openapi.json` is generated from them. A new route goes in its resource's
module (or a new module added to `_MODULES`), nowhere else.
"""

from __future__ import annotations

from aiohttp import web

from gateway import dashboard
from gateway.api import (
    accounts,
    certificates,
    chargers,
    energy,
    file_server,
    files,
    id_tags,
    live,
    ocpi_partners,
    ocpp_endpoint,
    ops,
    priority_charging,
    reservations,
    security,
    session,
    sessions,
    sites,
    station_tariffs,
    tokens,
)
from gateway.api.access import ROUTES_BY_NAME, auth_middleware
from gateway.api.context import API, Api
from gateway.api.table import Route

_MODULES = (
    ocpp_endpoint,
    chargers,
    security,
    certificates,
    id_tags,
    accounts,
    ocpi_partners,
    reservations,
    files,
    file_server,
    sessions,
    station_tariffs,
    priority_charging,
    energy,
    sites,
    live,
    tokens,
    session,
    ops,
)
ROUTES: tuple[Route, ...] = tuple(route for module in _MODULES for route in module.ROUTES)


def _checked(routes: tuple[Route, ...]) -> dict[str, Route]:
    by_name: dict[str, Route] = {}
    places: set[tuple[str, str]] = set()
    for route in routes:
        if route.name in by_name:
            raise ValueError(f"route name {route.name!r} is declared twice")
        if (route.method, route.path) in places:
            raise ValueError(f"{route.method.upper()} {route.path} is declared twice")
        by_name[route.name] = route
        places.add((route.method, route.path))
    return by_name


def create_app(context: Api, routes: tuple[Route, ...] = ROUTES) -> web.Application:
    app = web.Application(middlewares=[auth_middleware])
    app[API] = context
    app[ROUTES_BY_NAME] = _checked(routes)
    for route in routes:
        app.router.add_route(route.method.upper(), route.path, route.handler, name=route.name)
    dashboard.add_routes(app)
    return app


__all__ = ["ROUTES", "create_app"]
