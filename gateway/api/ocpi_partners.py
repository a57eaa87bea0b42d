"""OCPI partners for operators: created (with the token A that the partner registers with), listed with
their queued pushes, deleted. The handshake itself is the partner's, on /ocpi (gateway.ocpi.routes)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.api.context import api, error
from gateway.api.params import read_body
from gateway.api.table import Route
from gateway.api_models import OcpiPartnerCreate, OcpiPartnerCreated, OcpiPartnerView
from gateway.auth import new_token, token_digest


async def _view(request: web.Request, partner: dict[str, Any]) -> dict[str, Any]:
    queued = await api(request).store.ocpi.pending([partner["id"]])
    return {
        "id": partner["id"],
        "name": partner["name"],
        "state": partner["state"],
        "versions_url": partner["versions_url"],
        "roles": partner["roles"],
        "endpoints": partner["endpoints"],
        "queued": len(queued),
        "last_error": queued[0]["last_error"] if queued else None,
    }


async def create_partner(request: web.Request) -> web.Response:
    context = api(request)
    body = await read_body(request, OcpiPartnerCreate)
    token_a = new_token()
    if not await context.store.ocpi.create_partner(body.id, body.name, token_digest(token_a), context.clock()):
        return error(409, "Exists", f"partner {body.id!r} exists")
    partner = await context.store.ocpi.get_partner(body.id)
    assert partner is not None
    base = (context.settings.ocpi.public_url or f"{request.scheme}://{request.host}").rstrip("/")
    view = {**await _view(request, partner), "token_a": token_a, "our_versions_url": f"{base}/ocpi/versions"}
    return web.json_response(view, status=201)


async def list_partners(request: web.Request) -> web.Response:
    partners = await api(request).store.ocpi.partners()
    return web.json_response([await _view(request, p) for p in partners])


async def get_partner(request: web.Request) -> web.Response:
    partner = await api(request).store.ocpi.get_partner(request.match_info["partner_id"])
    if partner is None:
        return error(404, "NotFound", "no such partner")
    return web.json_response(await _view(request, partner))


async def delete_partner(request: web.Request) -> web.Response:
    if not await api(request).store.ocpi.delete_partner(request.match_info["partner_id"]):
        return error(404, "NotFound", "no such partner")
    return web.Response(status=204)


ROUTES: tuple[Route, ...] = (
    Route("post", "/api/ocpi/partners", "ocpi-partner-create", create_partner,
          "Create an OCPI partner: its token A (shown once) and our versions URL start its registration",
          body=OcpiPartnerCreate, response=OcpiPartnerCreated, status=201, errors=(409, 422), tag="ocpi"),
    Route("get", "/api/ocpi/partners", "ocpi-partners", list_partners,
          "OCPI partners, their state and pushes not yet acknowledged", response=OcpiPartnerView, many=True,
          tag="ocpi"),
    Route("get", "/api/ocpi/partners/{partner_id}", "ocpi-partner", get_partner, "One OCPI partner",
          response=OcpiPartnerView, errors=(404,), tag="ocpi"),
    Route("delete", "/api/ocpi/partners/{partner_id}", "ocpi-partner-delete", delete_partner,
          "Delete an OCPI partner, its tokens and its queued pushes", status=204, errors=(404,), tag="ocpi"),
)  # fmt: skip
