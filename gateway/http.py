"""HTTP edge: the OCPP WebSocket endpoint, the REST API, health and metrics.

One aiohttp application; OCPP and HTTP share the port. Handlers translate
HTTP to calls on the domain objects held by the Platform and back.
"""

from __future__ import annotations

import asyncio
import csv
import hmac
import io
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import WSCloseCode, WSMsgType, web
from ocpp.exceptions import OCPPError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, ValidationError

from chargepoints.errors import CallFailed, CallTimeout, ConnectionEnded, NotConnected, UnknownChargePoint
from chargepoints.identity import valid_identity, why_invalid
from chargepoints.ports import ChargerRecord, TransactionRecord
from gateway import dashboard
from gateway.api.context import PLATFORM, PRINCIPAL, error
from gateway.api.context import iso as _iso
from gateway.api_models import ChargerCreate, ChargerUpdate, IdTagBody
from gateway.auth import ROLES, Principal, hash_secret, parse_basic_auth, token_digest, verify_secret
from gateway.openapi import build_openapi
from solar.accounting import BUCKETS

if TYPE_CHECKING:
    from gateway.platform import Platform

log = logging.getLogger(__name__)

OCPP_SUBPROTOCOLS = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1"}


# -- OCPP endpoint --------------------------------------------------------------
class WsConnection:
    """chargepoints.ports.Connection over an aiohttp WebSocket.

    The server pings every heartbeat interval; a charger silent (no frame, no
    pong) for `idle_timeout_s` (three heartbeat intervals) is considered gone.
    """

    def __init__(self, ws: web.WebSocketResponse, idle_timeout_s: float) -> None:
        self._ws = ws
        self._idle_timeout_s = idle_timeout_s

    async def recv(self) -> str:
        while True:
            try:
                message = await self._ws.receive(timeout=self._idle_timeout_s)
            except TimeoutError:
                raise ConnectionEnded(f"silent for {self._idle_timeout_s:.0f}s") from None
            if message.type == WSMsgType.TEXT:
                return str(message.data)
            if message.type == WSMsgType.BINARY:
                return bytes(message.data).decode("utf-8", errors="replace")
            if message.type == WSMsgType.PING:
                await self._ws.pong(message.data)
                continue
            if message.type == WSMsgType.PONG:
                continue
            raise ConnectionEnded(str(message.type))

    async def close(self) -> None:
        await self._ws.close(code=WSCloseCode.GOING_AWAY, message=b"replaced by a newer connection")

    async def ping_every(self, interval_s: float) -> None:
        while not self._ws.closed:
            await asyncio.sleep(interval_s)
            try:
                await self._ws.ping()
            except ConnectionError:
                return

    async def send(self, message: str) -> None:
        if self._ws.closed:
            raise ConnectionEnded("closed")
        try:
            await self._ws.send_str(message)
        except ConnectionError as exc:
            raise ConnectionEnded(str(exc)) from exc


def choose_subprotocol(offered_header: str | None, supported: tuple[str, ...], strict: bool) -> str | None:
    """Pick the charger's first offered protocol we speak.

    No offer at all means OCPP 1.6 (chargers in the field omit the header)
    unless strict; offers of only unknown protocols are refused (None).
    """
    offers = [p.strip() for p in (offered_header or "").split(",") if p.strip()]
    if not offers:
        return None if strict else "ocpp1.6"
    for offer in offers:
        if offer in OCPP_SUBPROTOCOLS and OCPP_SUBPROTOCOLS[offer] in supported:
            return offer
    return None


_UNKNOWN_CHARGER_HASH = hash_secret(secrets.token_urlsafe(24))  # checked against for ids no charger has


def _peer_common_name(request: web.Request) -> str | None:
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


async def check_charger_credentials(request: web.Request, charge_point_id: str) -> web.Response | None:
    """Enforce the charger's security profile before the WebSocket upgrade.

    Profile 1: HTTP Basic (user = charger id); 2: the same over TLS; 3: a TLS
    client certificate whose CN is the charger id. None when allowed.
    """
    platform = request.app[PLATFORM]
    credentials = await platform.store.get_credentials(charge_point_id)
    profile, password_hash = credentials if credentials else (0, None)
    if profile == 0:
        if credentials is None and request.headers.get("Authorization"):
            # as long as checking a known charger's password: the answer's timing tells no one which ids exist
            given = parse_basic_auth(request.headers.get("Authorization"))
            verify_secret(given[1] if given else "", _UNKNOWN_CHARGER_HASH)
        return None
    if profile >= 2 and not request.secure:
        return error(403, "TlsRequired", f"security profile {profile} requires wss://")
    if profile == 3:
        if _peer_common_name(request) != charge_point_id:
            return error(401, "Unauthorized", "a client certificate with CN = the charge point id is required")
        return None
    given = parse_basic_auth(request.headers.get("Authorization"))
    if given is None or given[0] != charge_point_id or not password_hash or not verify_secret(given[1], password_hash):
        response = error(401, "Unauthorized", "HTTP Basic credentials of this charge point are required")
        response.headers["WWW-Authenticate"] = 'Basic realm="coopgrid-ocpp", charset="UTF-8"'
        return response
    return None


async def ocpp_endpoint(request: web.Request) -> web.StreamResponse:
    platform = request.app[PLATFORM]
    charge_point_id = request.match_info["charge_point_id"]
    if not valid_identity(charge_point_id):  # before any state, row or log line holds it
        platform.metrics.refused_identities.inc()
        log.warning("refused a WebSocket upgrade from %s: %s", request.remote, why_invalid(charge_point_id))
        return error(400, "InvalidIdentity", why_invalid(charge_point_id))
    refused = await check_charger_credentials(request, charge_point_id)
    if refused is not None:
        log.warning("refused %s: %s", charge_point_id, refused.text)
        return refused
    header = request.headers.get("Sec-WebSocket-Protocol")
    chosen = choose_subprotocol(header, platform.central_supported_versions, platform.settings.ocpp.strict_subprotocol)
    if chosen is None:
        log.warning("refused %s: offered subprotocols %r", charge_point_id, header)
        return error(400, "UnsupportedSubprotocol", f"offered {header!r}; we speak {sorted(OCPP_SUBPROTOCOLS)}")
    ocpp = platform.settings.ocpp
    ws = web.WebSocketResponse(protocols=(chosen,) if header else (), autoping=False, max_msg_size=ocpp.max_frame_bytes)
    await ws.prepare(request)
    log.info("charger %s connected (%s)", charge_point_id, OCPP_SUBPROTOCOLS[chosen])
    connection = WsConnection(ws, idle_timeout_s=3 * ocpp.heartbeat_interval_s)
    try:
        async with asyncio.TaskGroup() as group:
            pinger = group.create_task(connection.ping_every(ocpp.heartbeat_interval_s))
            await platform.central.serve(charge_point_id, OCPP_SUBPROTOCOLS[chosen], connection)
            pinger.cancel()
    finally:
        await ws.close()
        log.info("charger %s disconnected", charge_point_id)
    return ws


# -- auth -------------------------------------------------------------------------
ALL_ROLES = frozenset(ROLES)
OPERATOR = frozenset({"operator"})
COOPERATIVE = frozenset({"operator", "cooperative"})
# Which roles may use each named route; routes not listed are for operators only.
ROUTE_ROLES: dict[str, frozenset[str]] = {
    "chargepoints": ALL_ROLES,
    "chargepoint": ALL_ROLES,
    "sessions": COOPERATIVE,
    "session": COOPERATIVE,
    "parks": COOPERATIVE,
    "park": COOPERATIVE,
    "park-energy": COOPERATIVE,
    "cooperative-report": COOPERATIVE,
    "cooperatives": COOPERATIVE,
    "solar-rejects": ALL_ROLES,
    "allocation": ALL_ROLES,
    "live": ALL_ROLES,
    "history": ALL_ROLES,
    "stream": ALL_ROLES,
}


async def resolve_principal(request: web.Request) -> Principal | None:
    platform = request.app[PLATFORM]
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = header[7:].strip()
    elif request.path == "/api/stream" and request.query.get("access_token"):
        token = request.query["access_token"]  # EventSource cannot send headers
    else:
        return None
    bootstrap = platform.settings.operator_token
    if bootstrap and hmac.compare_digest(token.encode(), bootstrap.encode()):
        return Principal("operator", name="bootstrap")
    found = await platform.store.find_token(token_digest(token))
    if found is None:
        return None
    role, cooperative_id, name = found
    return Principal(role, cooperative_id, name)  # type: ignore[arg-type]


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Bearer tokens on /api: 401 without a valid one, 403 when its role may not use the route."""
    if not request.path.startswith("/api/") or request.path in ("/api/openapi.json", "/api/docs"):
        return await handler(request)
    if not request.app[PLATFORM].settings.http.auth:
        request[PRINCIPAL] = Principal("operator", name="auth disabled")
        return await handler(request)
    principal = await resolve_principal(request)
    if principal is None:
        response = error(401, "Unauthorized", "a valid bearer token is required (Authorization: Bearer ...)")
        response.headers["WWW-Authenticate"] = 'Bearer realm="coopgrid"'
        return response
    route = request.match_info.route
    allowed = ROUTE_ROLES.get(route.name or "", OPERATOR) if route.resource is not None else ALL_ROLES
    if principal.role not in allowed:
        return error(403, "Forbidden", f"the {principal.role} role may not use this route")
    request[PRINCIPAL] = principal
    return await handler(request)


def own_members(request: web.Request) -> set[str] | None:
    """Member ids a cooperative token may see; None = everything (operators)."""
    principal = request[PRINCIPAL]
    if principal.role != "cooperative":
        return None
    settings = request.app[PLATFORM].settings
    return {m.id for coop in settings.cooperatives if coop.id == principal.cooperative_id for m in coop.members}


# -- REST ---------------------------------------------------------------------------
def charger_view(platform: Platform, charge_point_id: str) -> dict[str, Any]:
    state = platform.central.state(charge_point_id)
    return {
        "id": state.id,
        "connected": platform.cluster.owner(state.id) is not None,
        "ocpp_version": state.ocpp_version,
        "registration": state.registration,
        "site_id": state.site_id,
        "connectors": {str(k): {"status": v} for k, v in sorted(state.connectors.items())},
        "last_seen": _iso(state.last_seen),
    }


MAX_PAGE = 10_000
MAX_OFFSET = 2**31 - 1  # what every SQL engine takes


def _invalid_query(message: str) -> web.HTTPUnprocessableEntity:
    return web.HTTPUnprocessableEntity(
        text=json.dumps({"error": {"code": "InvalidQuery", "message": message}}), content_type="application/json"
    )


def _page(request: web.Request, default: int = 1000) -> tuple[int, int]:
    """`?limit=&offset=`: at most MAX_PAGE items per page."""
    try:
        limit = int(request.query.get("limit", default))
        offset = int(request.query.get("offset", 0))
    except ValueError:
        raise _invalid_query("limit and offset must be whole numbers") from None
    if not 1 <= limit <= MAX_PAGE or not 0 <= offset <= MAX_OFFSET:
        raise _invalid_query(f"limit must be within 1..{MAX_PAGE} and offset within 0..{MAX_OFFSET}")
    return limit, offset


def _time_query(request: web.Request, name: str) -> datetime | None:
    value = request.query.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid_query(f"{name} must be an ISO 8601 time, e.g. 2026-06-01T00:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def paged(request: web.Request, items: list[Any], total: int, limit: int, offset: int) -> web.Response:
    """A page of a list: the items, `X-Total-Count`, and a `Link` to the next page when there is one."""
    response = web.json_response(items)
    response.headers["X-Total-Count"] = str(total)
    if offset + limit < total:
        following = request.url.update_query(limit=limit, offset=offset + limit)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return response


async def list_chargepoints(request: web.Request) -> web.Response:
    """Filters: `site`, `status` (of any connector), `connected`; paged."""
    platform = request.app[PLATFORM]
    limit, offset = _page(request)
    site, status = request.query.get("site"), request.query.get("status")
    connected = _bool_query(request.query.get("connected"), "connected")
    views = [charger_view(platform, s.id) for s in platform.central.states()]
    views = [
        v
        for v in views
        if (not site or v["site_id"] == site)
        and (not status or any(c["status"] == status for c in v["connectors"].values()))
        and (connected is None or v["connected"] == connected)
    ]
    return paged(request, views[offset : offset + limit], len(views), limit, offset)


async def get_chargepoint(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    charge_point_id = request.match_info["charge_point_id"]
    if not platform.central.knows(charge_point_id):
        return error(404, "NotFound", f"no charge point {charge_point_id!r}")
    return web.json_response(charger_view(platform, charge_point_id))


async def ocpp_action(request: web.Request) -> web.Response:
    charge_point_id = request.match_info["charge_point_id"]
    action = request.match_info["action"]
    try:
        payload = await request.json()
    except ValueError:  # not JSON, or not even UTF-8
        return error(422, "InvalidJson", "the body must be a JSON object (the OCPP payload)")
    if not isinstance(payload, dict):
        return error(422, "InvalidPayload", "the body must be a JSON object (the OCPP payload)")
    return await _forward(request, charge_point_id, action, payload)


async def _commanding(charge_point_id: str, command: Awaitable[Any]) -> Any:
    """Await a command to a charger; failures become the REST error the API promises."""
    try:
        return await command
    except UnknownChargePoint:
        return error(404, "NotFound", f"no charge point {charge_point_id!r}")
    except NotConnected:
        return error(409, "NotConnected", f"{charge_point_id} is not connected")
    except CallFailed as exc:
        return error(502, exc.code, exc.description or exc.code)
    except CallTimeout as exc:
        return error(504, "Timeout", str(exc))
    except OCPPError as exc:
        cause = exc.details.get("cause") if isinstance(exc.details, dict) else None
        return error(422, exc.code, str(cause or exc.description))


async def _forward(
    request: web.Request,
    charge_point_id: str,
    action: str,
    payload: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> web.Response:
    """Send a CSMS-initiated call and map the outcome to HTTP."""
    platform = request.app[PLATFORM]
    answer = await _commanding(charge_point_id, platform.cluster.call(charge_point_id, action, payload))
    if isinstance(answer, web.Response):
        return answer
    return web.json_response({**answer, **extra} if extra else answer)


_M = TypeVar("_M", bound=BaseModel)


async def _body(request: web.Request, model: type[_M]) -> _M:
    try:
        data = await request.json()
    except ValueError:  # not JSON, or not even UTF-8
        raise _unprocessable("InvalidJson", "the body must be JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise _unprocessable("InvalidBody", f"{where}: {first['msg']}") from None


def _unprocessable(code: str, message: str) -> web.HTTPUnprocessableEntity:
    return web.HTTPUnprocessableEntity(
        text=json.dumps({"error": {"code": code, "message": message}}), content_type="application/json"
    )


def _check_profile(profile: int, password: str | None, had_password: bool) -> None:
    if profile in (1, 2) and not (password or had_password):
        raise _unprocessable("PasswordRequired", "security profiles 1 and 2 need a password (16-40 characters)")


async def create_chargepoint(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    body = await _body(request, ChargerCreate)
    if await platform.store.get_charger(body.id) is not None:
        return error(409, "Exists", f"charge point {body.id!r} is already registered")
    _check_profile(body.security_profile, body.password, False)
    await platform.central.register(ChargerRecord(id=body.id, site_id=body.site_id))
    await platform.store.set_credentials(
        body.id, body.security_profile, hash_secret(body.password) if body.password else None
    )
    return web.json_response(charger_view(platform, body.id), status=201)


async def update_chargepoint(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    charge_point_id = request.match_info["charge_point_id"]
    body = await _body(request, ChargerUpdate)
    await platform.central.flush()  # boots are written behind: start from the newest record
    record = await platform.store.get_charger(charge_point_id)
    credentials = await platform.store.get_credentials(charge_point_id)
    if record is None or credentials is None:
        return error(404, "NotFound", f"no charge point {charge_point_id!r}")
    profile = body.security_profile if body.security_profile is not None else credentials[0]
    _check_profile(profile, body.password, credentials[1] is not None)
    if body.site_id is not None:
        record.site_id = body.site_id
    if body.registration is not None:
        record.registration = body.registration
    await platform.store.save_charger(record)
    await platform.central.register(record)
    password_hash = hash_secret(body.password) if body.password else credentials[1]
    await platform.store.set_credentials(charge_point_id, profile, password_hash)
    return web.json_response(charger_view(platform, charge_point_id))


async def put_id_tag(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    id_tag = request.match_info["id_tag"]
    if not 0 < len(id_tag) <= 64:
        return error(422, "InvalidIdTag", "an id tag has 1 to 64 characters")
    body = await _body(request, IdTagBody)
    expiry = body.expiry_date
    if expiry is not None and expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=UTC)
    created = await platform.store.put_id_tag(id_tag, body.status, expiry, body.group_id, body.type)
    return web.json_response(await platform.store.get_id_tag(id_tag), status=201 if created else 200)


async def get_id_tag(request: web.Request) -> web.Response:
    tag = await request.app[PLATFORM].store.get_id_tag(request.match_info["id_tag"])
    if tag is None:
        return error(404, "NotFound", "no such id tag")
    return web.json_response(tag)


async def list_id_tags(request: web.Request) -> web.Response:
    return web.json_response(await request.app[PLATFORM].store.list_id_tags())


async def delete_id_tag(request: web.Request) -> web.Response:
    if not await request.app[PLATFORM].store.delete_id_tag(request.match_info["id_tag"]):
        return error(404, "NotFound", "no such id tag")
    return web.Response(status=204)


def session_view(platform: Platform, record: TransactionRecord) -> dict[str, Any]:
    newer = platform.central.unflushed_register(record.id) if record.active else None
    if newer is not None:
        record = replace(record, meter_last_wh=newer)
    green = platform.green_energy_wh(record)
    energy = record.energy_wh
    return {
        "id": record.api_id,
        "charge_point_id": record.charge_point_id,
        "connector_id": record.connector_id,
        "id_tag": record.id_tag,
        "active": record.active,
        "energy_wh": round(energy, 1),
        "green_energy_wh": round(green, 1),
        "green_share": round(green / energy, 4) if energy > 0 else None,
        "meter_start_wh": record.meter_start_wh,
        "meter_stop_wh": record.meter_stop_wh,
        "start": _iso(record.start_ts),
        "stop": _iso(record.stop_ts),
        "stop_reason": record.stop_reason,
    }


def _bool_query(value: str | None, name: str = "active") -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise _invalid_query(f"{name} must be true or false")


async def list_sessions(request: web.Request) -> web.Response:
    """Newest first. Filters: `active`, `chargepoint`, `from`/`to` (start time); paged."""
    platform = request.app[PLATFORM]
    limit, offset = _page(request)
    filters = {
        "active": _bool_query(request.query.get("active")),
        "charge_point_id": request.query.get("chargepoint") or None,
        "started_from": _time_query(request, "from"),
        "started_to": _time_query(request, "to"),
    }
    records = await platform.store.list_transactions(**filters, limit=limit, offset=offset)  # type: ignore[arg-type]
    total = await platform.store.count_transactions(**filters)  # type: ignore[arg-type]
    return paged(request, [session_view(platform, r) for r in records], total, limit, offset)


async def get_session(request: web.Request) -> web.Response:
    """A session by its operator-facing id; `?chargepoint=` picks one when two chargers reuse an id."""
    platform = request.app[PLATFORM]
    api_id = request.match_info["session_id"]
    records = await platform.store.find_transactions_by_api_id(api_id, request.query.get("chargepoint") or None)
    if not records:
        return error(404, "NotFound", f"no session {api_id!r}")
    if len(records) > 1:
        chargers = sorted(r.charge_point_id for r in records)
        return error(409, "Ambiguous", f"session {api_id!r} exists on {chargers}; add ?chargepoint=")
    return web.json_response(session_view(platform, records[0]))


def _visible_parks(request: web.Request) -> list[dict[str, Any]]:
    members = own_members(request)
    parks = request.app[PLATFORM].solar.parks_view()
    return [p for p in parks if members is None or p.get("member_id") in members]


async def list_parks(request: web.Request) -> web.Response:
    return web.json_response(_visible_parks(request))


async def get_park(request: web.Request) -> web.Response:
    park_id = request.match_info["park_id"]
    for park in _visible_parks(request):
        if park["id"] == park_id:
            return web.json_response(park)
    return error(404, "NotFound", f"no park {park_id!r}")


def _period(request: web.Request) -> tuple[datetime, datetime]:
    """`?from=&to=` (ISO 8601, UTC when no offset); default: today so far (UTC)."""
    now = request.app[PLATFORM].clock()
    start = _time_query(request, "from") or now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = _time_query(request, "to") or now
    if end <= start:
        raise _invalid_query("to must be after from")
    if end - start > timedelta(days=3700):
        raise _invalid_query("a report spans at most ten years")
    return start, end


def _kwh(wh: float) -> float:
    return round(wh / 1000.0, 3)


async def list_cooperatives(request: web.Request) -> web.Response:
    """The cooperatives (a cooperative token: its own), with members and their parks."""
    platform = request.app[PLATFORM]
    principal = request[PRINCIPAL]
    parks_of: dict[str, list[str]] = {}
    for park in platform.settings.parks:
        parks_of.setdefault(park.member_id or "", []).append(park.id)
    return web.json_response(
        [
            {
                "id": coop.id,
                "name": coop.name,
                "members": [
                    {"id": m.id, "name": m.name, "parks": sorted(parks_of.get(m.id, []))} for m in coop.members
                ],
            }
            for coop in platform.settings.cooperatives
            if principal.role != "cooperative" or principal.cooperative_id == coop.id
        ]
    )


async def cooperative_report(request: web.Request) -> web.StreamResponse:
    """Per member and park: generated, routed into EVs (the green ledger), exported; from SQL intervals."""
    platform = request.app[PLATFORM]
    coop_id = request.match_info["cooperative_id"]
    principal = request[PRINCIPAL]
    coop = next((c for c in platform.settings.cooperatives if c.id == coop_id), None)
    if coop is None or (principal.role == "cooperative" and principal.cooperative_id != coop_id):
        return error(404, "NotFound", f"no cooperative {coop_id!r}")
    start, end = _period(request)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise _invalid_query("format must be json or csv")
    parks_of: dict[str, list[str]] = {m.id: [] for m in coop.members}
    for park in platform.settings.parks:
        if park.member_id in parks_of:
            parks_of[park.member_id].append(park.id)
    energy = await platform.store.energy_by_park([p for ps in parks_of.values() for p in ps], start, end)
    members = []
    for member in coop.members:
        parks = [
            {
                "id": park_id,
                "generated_kwh": _kwh(energy[park_id][0]),
                "to_evs_kwh": _kwh(energy[park_id][1]),
                "exported_kwh": _kwh(max(0.0, energy[park_id][0] - energy[park_id][1])),
            }
            for park_id in sorted(parks_of[member.id])
        ]
        members.append(
            {
                "id": member.id,
                "name": member.name,
                "generated_kwh": round(sum(p["generated_kwh"] for p in parks), 3),
                "to_evs_kwh": round(sum(p["to_evs_kwh"] for p in parks), 3),
                "exported_kwh": round(sum(p["exported_kwh"] for p in parks), 3),
                "parks": parks,
            }
        )
    report = {
        "cooperative_id": coop.id,
        "name": coop.name,
        "from": _iso(start),
        "to": _iso(end),
        "generated_kwh": round(sum(m["generated_kwh"] for m in members), 3),
        "to_evs_kwh": round(sum(m["to_evs_kwh"] for m in members), 3),
        "exported_kwh": round(sum(m["exported_kwh"] for m in members), 3),
        "members": members,
    }
    if fmt == "json":
        return web.json_response(report)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["member_id", "member_name", "park_id", "generated_kwh", "to_evs_kwh", "exported_kwh"])
    for member in members:
        for park in member["parks"]:
            writer.writerow(
                [member["id"], member["name"] or "", park["id"], park["generated_kwh"], park["to_evs_kwh"],
                 park["exported_kwh"]]
            )  # fmt: skip
    writer.writerow(["", "total", "", report["generated_kwh"], report["to_evs_kwh"], report["exported_kwh"]])
    filename = f"coopgrid-{coop.id}-{start:%Y%m%d}-{end:%Y%m%d}.csv"
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def park_energy(request: web.Request) -> web.Response:
    """A park's generation and green energy into EVs over time, in minutes, 15 minutes, hours, days or months."""
    park_id = request.match_info["park_id"]
    if not any(p["id"] == park_id for p in _visible_parks(request)):
        return error(404, "NotFound", f"no park {park_id!r}")
    start, end = _period(request)
    bucket = request.query.get("bucket", "hour")
    if bucket not in (*BUCKETS, "month"):
        raise _invalid_query(f"bucket must be one of {', '.join([*BUCKETS, 'month'])}")
    if bucket == "minute" and end - start > timedelta(days=7):
        raise _invalid_query("minutes are served for at most 7 days; choose a larger bucket")
    rows = await request.app[PLATFORM].store.park_series(park_id, start, end, bucket)  # grouped in SQL
    series = [
        {"start": _iso(at), "generated_wh": round(generated, 3), "to_evs_wh": round(green, 3)}
        for at, generated, green in rows
    ]
    return web.json_response(
        {"park_id": park_id, "bucket": bucket, "from": _iso(start), "to": _iso(end), "series": series}
    )


async def solar_rejects(request: web.Request) -> web.Response:
    """Telemetry refused by the ingest: counts per reason and the latest payloads, kept aside as received."""
    solar = request.app[PLATFORM].solar
    return web.json_response(
        {
            "accepted": solar.accepted,
            "parsed": solar.parsed,
            "counts": dict(sorted(solar.rejects.items())),
            "recent": solar.rejected_view(),
        }
    )


async def get_allocation(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    site_id = request.match_info["site_id"]
    if site_id not in {s.id for s in platform.settings.sites}:
        return error(404, "NotFound", f"no site {site_id!r}")
    return web.json_response(platform.scheduler.allocation(site_id) or {"site_id": site_id, "setpoints": []})


class LimitBody(BaseModel):
    model_config = {"extra": "forbid"}
    connector_id: int = Field(1, ge=0)
    limit_a: float = Field(ge=0, le=1000)


async def set_limit(request: web.Request) -> web.Response:
    """Cap a connector (1.6) or EVSE (2.0.1): a TxProfile on its running transaction, else a TxDefaultProfile."""
    platform = request.app[PLATFORM]
    charge_point_id = request.match_info["charge_point_id"]
    body = await _body(request, LimitBody)
    running = [
        r
        for r in await platform.store.list_transactions(active=True, charge_point_id=charge_point_id)
        if r.connector_id == body.connector_id
    ]
    status = await _commanding(
        charge_point_id,
        platform.cluster.set_current_limit(
            charge_point_id, body.connector_id, body.limit_a, running[0].id if running else None
        ),
    )
    if isinstance(status, web.Response):
        return status
    return web.json_response({"status": status})


class ChargingModeBody(BaseModel):
    model_config = {"extra": "forbid"}
    mode: str = Field(pattern="^(green|green_min|fast|departure)$")
    priority: int = Field(0, ge=0, le=100)
    energy_wh: float | None = Field(None, gt=0, description="departure mode: energy wanted")
    departure: datetime | None = Field(None, description="departure mode: when the EV leaves (UTC)")


async def set_charging_mode(request: web.Request) -> web.Response:
    """How the scheduler treats a running session: green, green_min, fast, or a departure target."""
    platform = request.app[PLATFORM]
    records = await platform.store.find_transactions_by_api_id(
        request.match_info["session_id"], request.query.get("chargepoint") or None
    )
    active = [r for r in records if r.active]
    if len(active) != 1:
        return error(404, "NotFound", "no single running session with this id")
    body = await _body(request, ChargingModeBody)
    record = active[0]
    if body.mode == "departure":
        if body.energy_wh is None or body.departure is None:
            return error(422, "InvalidBody", "departure mode needs energy_wh and departure")
        departure = body.departure if body.departure.tzinfo else body.departure.replace(tzinfo=UTC)
        seconds_left = (departure - platform.clock()).total_seconds()
        if seconds_left <= 0:
            return error(422, "InvalidBody", "departure must be in the future")
        applied = platform.scheduler.set_target(
            record.charge_point_id, record.connector_id, body.energy_wh, platform.scheduler_clock() + seconds_left
        )
    else:
        applied = platform.scheduler.set_mode(record.charge_point_id, record.connector_id, body.mode, body.priority)
    if not applied:
        return error(409, "NotScheduled", "the scheduler does not manage this session (charger not configured)")
    return web.json_response({"session_id": record.api_id, "mode": body.mode, "priority": body.priority})


async def send_local_list(request: web.Request) -> web.Response:
    """SendLocalList (full update) built from the id tag table."""
    platform = request.app[PLATFORM]
    charge_point_id = request.match_info["charge_point_id"]
    tags = await platform.store.list_id_tags()
    entries = []
    for tag in tags:
        info: dict[str, Any] = {"status": tag["status"]}
        if tag["expiry_date"]:
            info["expiryDate"] = tag["expiry_date"]
        if tag["group_id"]:
            info["parentIdTag"] = tag["group_id"]
        entries.append({"idTag": tag["id_tag"], "idTagInfo": info})
    version = int(platform.clock().timestamp())  # increases with every send
    if platform.central.state(charge_point_id).ocpp_version == "2.0.1":
        payload = {"versionNumber": version, "updateType": "Full", "localAuthorizationList": _local_list_201(tags)}
    else:
        payload = {"listVersion": version, "updateType": "Full", "localAuthorizationList": entries}
    return await _forward(request, charge_point_id, "SendLocalList", payload, extra={"list_version": version})


def _local_list_201(tags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    entries = []
    for tag in tags:
        info: dict[str, Any] = {"status": tag["status"]}
        if tag["expiry_date"]:
            info["cacheExpiryDateTime"] = tag["expiry_date"]
        if tag["group_id"]:
            info["groupIdToken"] = {"idToken": tag["group_id"], "type": "Central"}
        entries.append({"idToken": {"idToken": tag["id_tag"], "type": tag["type"] or "Central"}, "idTokenInfo": info})
    return entries


async def list_variables(request: web.Request) -> web.Response:
    """An OCPP 2.0.1 charger's stored device model (NotifyReport, Get/SetVariables)."""
    platform = request.app[PLATFORM]
    charge_point_id = request.match_info["charge_point_id"]
    if not platform.central.knows(charge_point_id):
        return error(404, "NotFound", f"no charge point {charge_point_id!r}")
    return web.json_response(await platform.store.list_variables(charge_point_id))


async def list_charger_events(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    charge_point_id = request.match_info["charge_point_id"]
    if not platform.central.knows(charge_point_id):
        return error(404, "NotFound", f"no charge point {charge_point_id!r}")
    limit, offset = _page(request, default=200)
    events = await platform.store.list_events(charge_point_id, limit=limit, offset=offset)
    return paged(request, events, await platform.store.count_events(charge_point_id), limit, offset)


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(build_openapi(request.app[PLATFORM].version))


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CoopGrid API</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:70em}code{background:#eef;padding:0 .2em}
.op{border-top:1px solid #ccc;padding:.5em 0}.m{display:inline-block;width:4.5em;font-weight:bold}
pre{background:#f6f6f6;padding:.5em;overflow:auto}</style></head>
<body><h1>CoopGrid API</h1><p>The machine-readable document: <a href="/api/openapi.json">/api/openapi.json</a>.
Send <code>Authorization: Bearer TOKEN</code> (create one with <code>coopgrid token create --role operator</code>).</p>
<div id="ops"></div><script>
fetch('/api/openapi.json').then(r => r.json()).then(doc => {
  const root = document.getElementById('ops');
  for (const [path, methods] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(methods)) {
    const div = document.createElement('div'); div.className = 'op';
    const codes = Object.keys(op.responses).join(', ');
    div.innerHTML = `<span class="m">${method.toUpperCase()}</span><code>${path}</code> ${op.summary}
      <br><small>responses: ${codes}</small>`;
    if (op.requestBody) { const pre = document.createElement('pre');
      pre.textContent = JSON.stringify(op.requestBody.content['application/json'].schema); div.appendChild(pre); }
    root.appendChild(div);
  }
});
</script></body></html>
"""


async def api_docs(request: web.Request) -> web.Response:
    return web.Response(text=DOCS_PAGE, content_type="text/html")


async def healthz(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    return web.json_response(
        {
            "status": "ok",
            "bus_connected": platform.bus.connected.is_set(),
            "version": platform.version,
            "instance": platform.settings.instance_id,
            "scheduler_leader": platform.leader,
        }
    )


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[PLATFORM].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(platform: Platform) -> web.Application:
    app = web.Application(middlewares=[auth_middleware])
    app[PLATFORM] = platform
    add = app.router
    add.add_get("/ocpp/{charge_point_id}", ocpp_endpoint, name="ocpp")
    add.add_get("/api/chargepoints", list_chargepoints, name="chargepoints")
    add.add_post("/api/chargepoints", create_chargepoint, name="chargepoint-create")
    add.add_get("/api/chargepoints/{charge_point_id}", get_chargepoint, name="chargepoint")
    add.add_patch("/api/chargepoints/{charge_point_id}", update_chargepoint, name="chargepoint-update")
    add.add_get("/api/chargepoints/{charge_point_id}/events", list_charger_events, name="chargepoint-events")
    add.add_get("/api/chargepoints/{charge_point_id}/variables", list_variables, name="chargepoint-variables")
    add.add_post("/api/chargepoints/{charge_point_id}/local-list", send_local_list, name="local-list")
    add.add_post("/api/chargepoints/{charge_point_id}/limit", set_limit, name="limit")
    add.add_post("/api/chargepoints/{charge_point_id}/ocpp/{action}", ocpp_action, name="ocpp-action")
    add.add_get("/api/id-tags", list_id_tags, name="id-tags")
    add.add_put("/api/id-tags/{id_tag}", put_id_tag, name="id-tag-put")
    add.add_get("/api/id-tags/{id_tag}", get_id_tag, name="id-tag")
    add.add_delete("/api/id-tags/{id_tag}", delete_id_tag, name="id-tag-delete")
    add.add_get("/api/sessions", list_sessions, name="sessions")
    add.add_get("/api/sessions/{session_id}", get_session, name="session")
    add.add_put("/api/sessions/{session_id}/mode", set_charging_mode, name="session-mode")
    add.add_get("/api/parks", list_parks, name="parks")
    add.add_get("/api/parks/{park_id}", get_park, name="park")
    add.add_get("/api/parks/{park_id}/energy", park_energy, name="park-energy")
    add.add_get("/api/cooperatives", list_cooperatives, name="cooperatives")
    add.add_get("/api/cooperatives/{cooperative_id}/report", cooperative_report, name="cooperative-report")
    add.add_get("/api/solar/rejects", solar_rejects, name="solar-rejects")
    add.add_get("/api/sites/{site_id}/allocation", get_allocation, name="allocation")
    add.add_get("/api/openapi.json", openapi_json, name="openapi")
    add.add_get("/api/docs", api_docs, name="docs")
    add.add_get("/healthz", healthz, name="healthz")
    add.add_get("/metrics", metrics, name="metrics")
    dashboard.add_routes(app)
    return app
