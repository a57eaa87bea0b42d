"""Who is asking, and what they may see: bearer tokens, roles from the route table, tenancy scope.

Authorization is decided once, here, from the route table (`gateway.api.table`): a route's roles say
who may use it, its scope says what its answer is filtered by. `Tenancy` is the one rule of ownership:
a park belongs to its member's cooperative, a site to the cooperative that runs it, a charger to its
site's cooperative, a session to its charger's. Operators see everything, cooperative tokens what their
cooperative owns, viewers charger status and nothing a cooperative owns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from gateway.api.context import API, PRINCIPAL, Api, error
from gateway.api.table import Route
from gateway.auth import Principal, same_secret, token_digest
from gateway.settings import Settings

SESSION_COOKIE = "coopgrid_session"  # set by POST /api/session (gateway.api.session): the token, HttpOnly
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _token_of(request: web.Request) -> tuple[str, bool] | None:
    """The token a request carries, and whether it came in the session cookie."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip(), False
    if request.path == "/api/stream" and request.query.get("access_token"):
        return request.query["access_token"], False  # EventSource cannot send headers
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie, True
    return None


def _same_origin(request: web.Request) -> bool:
    """A change asked for with the cookie: the browser says it comes from the dashboard's own origin."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if origin is None:
        return False
    parsed = urlsplit(origin)
    return parsed.netloc == request.host


async def resolve_principal(request: web.Request) -> Principal | None:
    found = _token_of(request)
    if found is None:
        return None
    token, by_cookie = found
    if by_cookie and request.method not in _SAFE_METHODS and not _same_origin(request):
        return None  # SameSite=Strict already stops other sites; this stops old browsers' too
    return await principal_of_token(request.app[API], token)


async def principal_of_token(context: Api, token: str) -> Principal | None:
    """The principal a token stands for: the bootstrap operator token, or a stored, valid one."""
    bootstrap = context.settings.operator_token
    if bootstrap and same_secret(token, bootstrap):
        return Principal("operator", name="bootstrap")
    found = await context.store.tokens.find(token_digest(token))
    if found is None:
        return None
    role, cooperative_id, name = found
    return Principal(role, cooperative_id, name)  # type: ignore[arg-type]


ROUTES_BY_NAME: web.AppKey[dict[str, Route]] = web.AppKey("routes_by_name")


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Bearer tokens: 401 without a valid one, 403 when its role may not use the route (roles: the route
    table). Routes outside the table (the dashboard page, static files) need none."""
    route = request.app[ROUTES_BY_NAME].get(request.match_info.route.name or "")
    if route is None or route.public:
        return await handler(request)
    if not request.app[API].settings.http.auth:
        request[PRINCIPAL] = Principal("operator", name="auth disabled")
        return await handler(request)
    principal = await resolve_principal(request)
    if principal is None:
        response = error(
            401, "Unauthorized", "a valid bearer token is required (Authorization: Bearer ..., or sign in)"
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="coopgrid"'
        return response
    if principal.role not in route.roles:
        return error(403, "Forbidden", f"the {principal.role} role may not use this route")
    request[PRINCIPAL] = principal
    return await handler(request)


@dataclass(frozen=True, slots=True)
class Tenancy:
    """What one principal sees. `everything` for operators; otherwise the cooperative's own ids."""

    everything: bool
    cooperative_id: str | None
    cooperatives: frozenset[str]
    members: frozenset[str]
    parks: frozenset[str]
    sites: frozenset[str]

    @classmethod
    def of(
        cls, principal: Principal, settings: Settings, site_cooperatives: dict[str, str | None] | None = None
    ) -> Tenancy:
        """`site_cooperatives`: each site's cooperative as stored (default: the configuration's sites)."""
        if principal.role == "operator":
            return cls(True, None, frozenset(), frozenset(), frozenset(), frozenset())
        coop = principal.cooperative_id if principal.role == "cooperative" else None
        members = frozenset(m.id for c in settings.cooperatives if c.id == coop for m in c.members)
        owners = (
            site_cooperatives if site_cooperatives is not None else {s.id: s.cooperative_id for s in settings.sites}
        )
        return cls(
            everything=False,
            cooperative_id=coop,
            cooperatives=frozenset(c.id for c in settings.cooperatives if c.id == coop),
            members=members,
            parks=frozenset(p.id for p in settings.parks if p.member_id in members),
            sites=frozenset(site for site, owner in owners.items() if coop is not None and owner == coop),
        )

    @property
    def sees_charger_status(self) -> bool:
        """Viewers read every charger's status; cooperatives only their sites' chargers."""
        return self.everything or self.cooperative_id is None

    def charger(self, site_id: str | None) -> bool:
        """A charger, by the site it is at (none: unknown chargers, the operators')."""
        return self.sees_charger_status or (site_id is not None and site_id in self.sites)

    def owned_charger(self, site_id: str | None) -> bool:
        """A charger's sessions and energy: operators, or the cooperative that runs its site."""
        return self.everything or (site_id is not None and site_id in self.sites)

    def park(self, park_id: str | None) -> bool:
        return self.everything or (park_id is not None and park_id in self.parks)

    def site(self, site_id: str | None) -> bool:
        return self.everything or (site_id is not None and site_id in self.sites)

    def cooperative(self, cooperative_id: str) -> bool:
        return self.everything or cooperative_id in self.cooperatives

    def parks_of(self, views: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return [v for v in views if self.park(v.get("id"))]


def tenancy(request: web.Request) -> Tenancy:
    context = request.app[API]
    return Tenancy.of(request[PRINCIPAL], context.settings, context.world.site_cooperatives())


__all__ = [
    "ROUTES_BY_NAME",
    "SESSION_COOKIE",
    "Tenancy",
    "auth_middleware",
    "principal_of_token",
    "resolve_principal",
    "tenancy",
]
