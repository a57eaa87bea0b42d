"""The dashboard's sign-in: a token exchanged for a session cookie, and a sign-out.

`POST /api/session` checks the token as a bearer token is checked and answers with a cookie that
carries it: HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Secure
behind TLS, Path=/. The auth middleware (`gateway.api.access`) accepts that cookie as it accepts the
header, so a revoked or expired token ends its sessions at once, on every instance. A request that
changes something on the strength of the cookie must come from the dashboard's own origin.
`DELETE /api/session` clears the cookie; `GET /api/session` says who is signed in.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from gateway.api.access import SESSION_COOKIE, principal_of_token
from gateway.api.context import PRINCIPAL, api, error
from gateway.api.params import read_body
from gateway.api.table import ALL_ROLES, Route
from gateway.api_models import SignedIn, SignIn
from gateway.auth import Principal

SESSION_MAX_AGE_S = 12 * 3600  # a working day; the token's own expiry still applies


def _view(principal: Principal, auth: bool) -> dict[str, object]:
    return {"role": principal.role, "cooperative_id": principal.cooperative_id, "name": principal.name, "auth": auth}


async def login(request: web.Request) -> web.Response:
    context = api(request)
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        return error(403, "Forbidden", "sign in from the dashboard's own page")  # no signing in from elsewhere
    body = await read_body(request, SignIn)
    principal = await principal_of_token(context, body.token.strip())
    if principal is None:
        return error(401, "Unauthorized", "token: not a valid, unexpired, unrevoked token")
    response = web.json_response(_view(principal, context.settings.http.auth))
    response.set_cookie(
        SESSION_COOKIE,
        body.token.strip(),
        max_age=SESSION_MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def logout(request: web.Request) -> web.Response:
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def whoami(request: web.Request) -> web.Response:
    return web.json_response(_view(request[PRINCIPAL], api(request).settings.http.auth))


ROUTES: tuple[Route, ...] = (
    Route(
        "post",
        "/api/session",
        "login",
        login,
        "Sign in: a token exchanged for an HttpOnly, SameSite=Strict session cookie",
        roles=ALL_ROLES,
        body=SignIn,
        response=SignedIn,
        errors=(401, 403, 422),
        tag="session",
        public=True,
    ),
    Route(
        "delete",
        "/api/session",
        "logout",
        logout,
        "Sign out: the session cookie cleared",
        roles=ALL_ROLES,
        status=204,
        tag="session",
        public=True,
    ),
    Route(
        "get",
        "/api/session",
        "whoami",
        whoami,
        "Who is signed in (by cookie or bearer token): role and cooperative",
        roles=ALL_ROLES,
        response=SignedIn,
        tag="session",
    ),
)
