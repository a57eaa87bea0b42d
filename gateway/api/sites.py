"""Sites: the scheduler's current allocation."""

from __future__ import annotations

from aiohttp import web

from gateway.api.access import tenancy
from gateway.api.context import api, error
from gateway.api.table import COOPERATIVE, Route, Scope


async def get_allocation(request: web.Request) -> web.Response:
    context = api(request)
    site_id = request.match_info["site_id"]
    if site_id not in {s.id for s in context.settings.sites} or not tenancy(request).site(site_id):
        return error(404, "NotFound", f"no site {site_id!r}")
    return web.json_response(context.scheduler.allocation(site_id) or {"site_id": site_id, "setpoints": []})


ROUTES: tuple[Route, ...] = (
    Route(
        "get",
        "/api/sites/{site_id}/allocation",
        "allocation",
        get_allocation,
        "The scheduler's current setpoints for a site",
        roles=COOPERATIVE,
        scope=Scope.SITE,
        free_response=True,
        errors=(404,),
        tag="smartgrid",
    ),
)
