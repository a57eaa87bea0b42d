"""API tokens for operators: list, create (shown once), revoke.

The same refusals as `coopgrid token create` (gateway.auth.check_token_request), answered 422 naming
the body field. Token times are wall-clock times, also in the demo (whose platform clock is simulated):
an expiry is a security matter, and `Store.find_token` judges it by the wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.api.context import api, error, iso
from gateway.api.params import read_body
from gateway.api.table import OPERATOR, Route
from gateway.api_models import TokenCreate, TokenCreated, TokenView
from gateway.auth import TokenInfo, TokenRequestError, check_token_request, new_token, token_digest


def token_view(info: TokenInfo, now: datetime) -> dict[str, Any]:
    """A token as the API and `coopgrid token list --json` show it."""
    return {
        "id": info.id,
        "name": info.name,
        "role": info.role,
        "cooperative_id": info.cooperative_id,
        "created": iso(info.created),
        "expires": iso(info.expires),
        "revoked": iso(info.revoked),
        "last_used": iso(info.last_used),
        "state": info.state(now),
    }


async def list_tokens(request: web.Request) -> web.Response:
    now = datetime.now(UTC)
    tokens = await api(request).store.tokens.list()
    return web.json_response([token_view(info, now) for info in tokens])


async def create_token(request: web.Request) -> web.Response:
    context = api(request)
    body = await read_body(request, TokenCreate)
    now = datetime.now(UTC)
    known = {coop.id for coop in context.settings.cooperatives}
    try:
        expires = check_token_request(body.role, body.cooperative_id, body.expires, known, now, name=body.name)
    except TokenRequestError as exc:
        return error(422, "InvalidBody", f"{exc.field}: {exc.message}")
    token = new_token()
    token_id = await context.store.tokens.create(
        body.name or body.role, body.role, body.cooperative_id, token_digest(token), now, expires=expires
    )
    info = TokenInfo(token_id, body.name or body.role, body.role, body.cooperative_id, now, expires)
    return web.json_response({**token_view(info, now), "token": token}, status=201)


async def revoke_token(request: web.Request) -> web.Response:
    raw = request.match_info["token_id"]
    token_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None
    if token_id is None or not await api(request).store.tokens.revoke(token_id):
        return error(404, "NotFound", "no such token")
    return web.Response(status=204)


ROUTES: tuple[Route, ...] = (
    Route(
        "get",
        "/api/tokens",
        "tokens",
        list_tokens,
        "Every API token (never the token itself): role, cooperative, expiry, last use, state",
        roles=OPERATOR,
        response=TokenView,
        many=True,
        tag="tokens",
    ),
    Route(
        "post",
        "/api/tokens",
        "token-create",
        create_token,
        "Create an API token; the answer shows it once (it is stored hashed)",
        roles=OPERATOR,
        body=TokenCreate,
        response=TokenCreated,
        status=201,
        errors=(422,),
        tag="tokens",
    ),
    Route(
        "delete",
        "/api/tokens/{token_id}",
        "token-revoke",
        revoke_token,
        "Revoke an API token at once (it stays listed, as revoked)",
        roles=OPERATOR,
        status=204,
        errors=(404,),
        tag="tokens",
    ),
)
