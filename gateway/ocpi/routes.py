"""The /ocpi routes of this CPO (OCPI 2.2.1): versions, credentials, locations, sessions, CDRs, tariffs
(senders), tokens and commands (receivers).

Every call carries a partner's token, `Authorization: Token <base64 token>` (OCPI 2.2.1; a token sent
without base64, as 2.1.1 did, is taken too). Token A opens the versions and `POST credentials` only.
`X-Request-ID` and `X-Correlation-ID` are answered back (made up when missing). Errors are OCPI envelopes
with their status code. These routes are outside the REST route table: their tokens are OCPI's, not the
bearer tokens of /api.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.auth import new_token, token_digest
from gateway.ocpi.client import CallFailed
from gateway.ocpi.service import Ocpi
from roaming.credentials import check_transition, our_credentials, parse_credentials, register
from roaming.envelope import (
    CLIENT_ERROR,
    INVALID_PARAMETERS,
    UNKNOWN_LOCATION,
    UNKNOWN_TOKEN,
    OcpiError,
    envelope,
)
from roaming.paging import next_offset, parse_page, window
from roaming.sessions import cdr_object, session_object
from roaming.tokens import TOKEN_TYPES, parse_token, patch_token
from roaming.versions import VERSION, version_details, versions

OCPI: web.AppKey[Ocpi] = web.AppKey("ocpi")
PARTNER: web.RequestKey[tuple[dict[str, Any], bool]] = web.RequestKey("ocpi_partner")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ROOT = f"/ocpi/{VERSION}"
log = logging.getLogger(__name__)


def _token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Token "):
        return None
    value = header[6:].strip()
    try:
        decoded = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return value
    return decoded if decoded.isprintable() and decoded else value


def answer(request: web.Request, data: Any, status_code: int = 1000, message: str | None = None,
           http_status: int = 200) -> web.Response:  # fmt: skip
    response = web.json_response(envelope(data, request.app[OCPI].clock(), status_code, message), status=http_status)
    request_id = request.headers.get("X-Request-ID") or str(uuid.uuid4())
    response.headers["X-Request-ID"] = request_id
    response.headers["X-Correlation-ID"] = request.headers.get("X-Correlation-ID") or request_id
    return response


def ocpi_route(*, token_a: bool = False) -> Callable[[Handler], Handler]:
    """A handler behind a partner's token (token A too, where `token_a`), its errors as OCPI envelopes."""

    def wrap(handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            ocpi = request.app[OCPI]
            token = _token(request)
            found = None if token is None else await ocpi.store.ocpi.partner_by_token(token_digest(token))
            if found is None or (found[1] and not token_a):
                return answer(request, None, CLIENT_ERROR, "a partner's token is required (Authorization: Token "
                              "<base64 token>)", http_status=401)  # fmt: skip
            request[PARTNER] = found
            try:
                return await handler(request)
            except OcpiError as exc:
                return answer(request, None, exc.status_code, exc.message, http_status=exc.http_status)

        return wrapped

    return wrap


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise OcpiError(INVALID_PARAMETERS, "the body must be JSON") from None


def paged(request: web.Request, items: list[dict[str, Any]]) -> web.Response:
    page = parse_page(request.query)
    shown, total = window(items, page)
    response = answer(request, shown)
    response.headers["X-Total-Count"] = str(total)
    response.headers["X-Limit"] = str(page.limit)
    following = next_offset(page, total)
    if following is not None:
        response.headers["Link"] = f'<{request.url.update_query(offset=following, limit=page.limit)}>; rel="next"'
    return response


# -- versions and credentials ----------------------------------------------------------------------------
@ocpi_route(token_a=True)
async def get_versions(request: web.Request) -> web.Response:
    return answer(request, versions(request.app[OCPI].base_url))


@ocpi_route(token_a=True)
async def get_version(request: web.Request) -> web.Response:
    return answer(request, version_details(request.app[OCPI].base_url))


def _credentials(ocpi: Ocpi, token: str) -> dict[str, Any]:
    return our_credentials(token, f"{ocpi.base_url}/ocpi/versions", ocpi.party, ocpi.settings.business_name)


@ocpi_route(token_a=True)
async def credentials(request: web.Request) -> web.Response:
    """POST (token A) registers, PUT (token C) registers again, GET shows, DELETE unregisters."""
    ocpi = request.app[OCPI]
    partner, with_token_a = request[PARTNER]
    check_transition(request.method, partner["state"], with_token_a)
    if request.method == "GET":
        return answer(request, _credentials(ocpi, _token(request) or ""))
    if request.method == "DELETE":
        await ocpi.store.ocpi.unregistered(partner["id"], ocpi.clock())
        ocpi.partners_changed()
        return answer(request, None)
    offered = parse_credentials(await _json(request))
    registration = await register(offered, ocpi.client)
    token_c = new_token()
    roles = [{"role": r.role, "country_code": r.country_code, "party_id": r.party_id, "name": r.name}
             for r in registration.roles]  # fmt: skip
    await ocpi.store.ocpi.registered(partner["id"], {
        "token_b": registration.token_b, "versions_url": registration.versions_url,
        "version_url": registration.version_url, "endpoints": registration.endpoints, "roles": roles,
    }, token_digest(token_c), ocpi.clock())  # fmt: skip
    ocpi.partners_changed()
    registered = await ocpi.store.ocpi.get_partner(partner["id"])
    assert registered is not None

    async def pull() -> None:
        try:
            await ocpi.pull_tokens(registered)
        except CallFailed as exc:  # pulled again at the next round (ocpi.tokens_pull_s)
            log.warning("ocpi: tokens of %s not pulled (%s)", registered["id"], exc)

    ocpi.later(pull)
    return answer(request, _credentials(ocpi, token_c))


# -- senders: locations, sessions, CDRs, tariffs ----------------------------------------------------------
@ocpi_route()
async def list_locations(request: web.Request) -> web.Response:
    return paged(request, await request.app[OCPI].objects.locations())


@ocpi_route()
async def get_location(request: web.Request) -> web.Response:
    match = request.match_info
    locations = {loc["id"]: loc for loc in await request.app[OCPI].objects.locations()}
    location = locations.get(match["location_id"])
    if location is None:
        raise OcpiError(UNKNOWN_LOCATION, f"no location {match['location_id']!r}", http_status=404)
    if "evse_uid" not in match:
        return answer(request, location)
    evse = next((e for e in location["evses"] if e["uid"] == match["evse_uid"]), None)
    if evse is None:
        raise OcpiError(UNKNOWN_LOCATION, f"no EVSE {match['evse_uid']!r} at this location", http_status=404)
    if "connector_id" not in match:
        return answer(request, evse)
    connector = next((c for c in evse["connectors"] if c["id"] == match["connector_id"]), None)
    if connector is None:
        raise OcpiError(UNKNOWN_LOCATION, f"no connector {match['connector_id']!r} at this EVSE", http_status=404)
    return answer(request, connector)


@ocpi_route()
async def list_sessions(request: web.Request) -> web.Response:
    """The sessions that ran on this partner's tokens."""
    ocpi = request.app[OCPI]
    partner, _ = request[PARTNER]
    tokens = await ocpi.store.ocpi.tokens_of(partner["id"])
    out = [
        session_object(ocpi.objects.session_facts(record, parse_token(tokens[record.id_tag])), ocpi.party)
        for record in await ocpi.store.list_transactions(limit=10_000)
        if record.id_tag in tokens
    ]
    return paged(request, sorted(out, key=lambda s: (s["last_updated"], s["id"])))


@ocpi_route()
async def list_cdrs(request: web.Request) -> web.Response:
    """The CDRs of sessions on this partner's tokens, as pushed to it."""
    ocpi = request.app[OCPI]
    partner, _ = request[PARTNER]
    tokens = await ocpi.store.ocpi.tokens_of(partner["id"])
    out = []
    for row in await ocpi.store.cdrs.list():
        uid = str(row["cdr"].get("cdr_token", {}).get("uid", ""))
        if uid in tokens:
            out.append(cdr_object(row["cdr"], parse_token(tokens[uid]), await ocpi.objects.cdr_place(row["cdr"])))
    return paged(request, sorted(out, key=lambda c: (c["last_updated"], c["id"])))


@ocpi_route()
async def list_tariffs(request: web.Request) -> web.Response:
    return paged(request, await request.app[OCPI].objects.tariffs())


# -- receivers: tokens, commands ------------------------------------------------------------------------
def _token_key(request: web.Request) -> tuple[str, str, str, str]:
    match = request.match_info
    partner, _ = request[PARTNER]
    kind = request.query.get("type", "RFID")
    if kind not in TOKEN_TYPES:
        raise OcpiError(INVALID_PARAMETERS, f"type: one of {', '.join(TOKEN_TYPES)}")
    parties = {(r["country_code"], r["party_id"]) for r in partner["roles"]}
    if (match["country_code"], match["party_id"]) not in parties:
        raise OcpiError(INVALID_PARAMETERS, "country_code/party_id: not a party of this partner's", http_status=403)
    return match["country_code"], match["party_id"], match["token_uid"], kind


@ocpi_route()
async def get_token(request: web.Request) -> web.Response:
    ocpi = request.app[OCPI]
    partner, _ = request[PARTNER]
    stored = await ocpi.store.ocpi.get_token(partner["id"], *_token_key(request))
    if stored is None:
        raise OcpiError(UNKNOWN_TOKEN, "no such token", http_status=404)
    return answer(request, stored)


@ocpi_route()
async def put_token(request: web.Request) -> web.Response:
    ocpi = request.app[OCPI]
    partner, _ = request[PARTNER]
    country, party, uid, kind = _token_key(request)
    data = await _json(request)
    if request.method == "PATCH":
        stored = await ocpi.store.ocpi.get_token(partner["id"], country, party, uid, kind)
        if stored is None:
            raise OcpiError(UNKNOWN_TOKEN, "no such token: PUT it first", http_status=404)
        token = patch_token(parse_token(stored), data)
    else:
        token = parse_token(data)
    if (token.country_code, token.party_id, token.uid, token.type) != (country, party, uid, kind):
        raise OcpiError(INVALID_PARAMETERS, "the token's country_code, party_id, uid and type must match the URL")
    await ocpi.store_token(partner["id"], token)
    return answer(request, None)


@ocpi_route()
async def post_command(request: web.Request) -> web.Response:
    ocpi = request.app[OCPI]
    partner, _ = request[PARTNER]
    return answer(request, await ocpi.commanding.receive(partner, request.match_info["command"], await _json(request)))


def add_routes(app: web.Application, ocpi: Ocpi) -> None:
    """Mount the /ocpi routes (only when [ocpi] is enabled)."""
    if not ocpi.enabled:
        return
    app[OCPI] = ocpi
    locations = f"{ROOT}/locations"
    tokens = f"{ROOT}/tokens/{{country_code}}/{{party_id}}/{{token_uid}}"
    routes: list[tuple[str, str, Handler]] = [
        ("GET", "/ocpi/versions", get_versions),
        ("GET", ROOT, get_version),
        *((method, f"{ROOT}/credentials", credentials) for method in ("GET", "POST", "PUT", "DELETE")),
        ("GET", locations, list_locations),
        ("GET", f"{locations}/{{location_id}}", get_location),
        ("GET", f"{locations}/{{location_id}}/{{evse_uid}}", get_location),
        ("GET", f"{locations}/{{location_id}}/{{evse_uid}}/{{connector_id}}", get_location),
        ("GET", f"{ROOT}/sessions", list_sessions),
        ("GET", f"{ROOT}/cdrs", list_cdrs),
        ("GET", f"{ROOT}/tariffs", list_tariffs),
        ("GET", tokens, get_token),
        ("PUT", tokens, put_token),
        ("PATCH", tokens, put_token),
        ("POST", f"{ROOT}/commands/{{command}}", post_command),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)


__all__ = ["OCPI", "add_routes"]
