"""HTTP edge: the OCPP WebSocket endpoint, the REST API, health and metrics.

One aiohttp application; OCPP and HTTP share the port. Handlers translate
HTTP to calls on the domain objects held by the Platform and back.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from ocpp.exceptions import OCPPError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chargepoints.errors import CallFailed, CallTimeout, ConnectionEnded, NotConnected, UnknownChargePoint
from chargepoints.ports import TransactionRecord

if TYPE_CHECKING:
    from gateway.platform import Platform

log = logging.getLogger(__name__)

PLATFORM: web.AppKey[Platform] = web.AppKey("platform")
OCPP_SUBPROTOCOLS = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1"}


def _iso(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z") if ts else None


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


# -- OCPP endpoint --------------------------------------------------------------
class WsConnection:
    """chargepoints.ports.Connection over an aiohttp WebSocket."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws

    async def recv(self) -> str:
        message = await self._ws.receive()
        if message.type == WSMsgType.TEXT:
            return str(message.data)
        if message.type == WSMsgType.BINARY:
            return bytes(message.data).decode("utf-8", errors="replace")
        raise ConnectionEnded(str(message.type))

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


async def ocpp_endpoint(request: web.Request) -> web.StreamResponse:
    platform = request.app[PLATFORM]
    charge_point_id = request.match_info["charge_point_id"]
    header = request.headers.get("Sec-WebSocket-Protocol")
    chosen = choose_subprotocol(
        header, platform.central_supported_versions, platform.settings.ocpp.strict_subprotocol
    )
    if chosen is None:
        log.warning("refused %s: offered subprotocols %r", charge_point_id, header)
        return error(400, "UnsupportedSubprotocol", f"offered {header!r}; we speak {sorted(OCPP_SUBPROTOCOLS)}")
    ws = web.WebSocketResponse(protocols=(chosen,) if header else (), autoping=True, max_msg_size=65536)
    await ws.prepare(request)
    log.info("charger %s connected (%s)", charge_point_id, OCPP_SUBPROTOCOLS[chosen])
    try:
        await platform.central.serve(charge_point_id, OCPP_SUBPROTOCOLS[chosen], WsConnection(ws))
    finally:
        await ws.close()
        log.info("charger %s disconnected", charge_point_id)
    return ws


# -- auth -------------------------------------------------------------------------
@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    token = request.app[PLATFORM].settings.operator_token
    if token and request.path.startswith("/api/") and request.path != "/api/openapi.json":
        given = request.headers.get("Authorization", "")
        if not given.startswith("Bearer ") or not hmac.compare_digest(given[7:].encode(), token.encode()):
            return error(401, "Unauthorized", "a valid bearer token is required")
    return await handler(request)


# -- REST ---------------------------------------------------------------------------
def charger_view(platform: Platform, charge_point_id: str) -> dict[str, Any]:
    state = platform.central.state(charge_point_id)
    return {
        "id": state.id,
        "connected": platform.central.is_connected(state.id),
        "ocpp_version": state.ocpp_version,
        "registration": state.registration,
        "site_id": state.site_id,
        "connectors": {str(k): {"status": v} for k, v in sorted(state.connectors.items())},
        "last_seen": _iso(state.last_seen),
    }


async def list_chargepoints(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    return web.json_response([charger_view(platform, s.id) for s in platform.central.states()])


async def get_chargepoint(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    charge_point_id = request.match_info["charge_point_id"]
    if charge_point_id not in {s.id for s in platform.central.states()}:
        return error(404, "NotFound", f"no charge point {charge_point_id!r}")
    return web.json_response(charger_view(platform, charge_point_id))


async def ocpp_action(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    charge_point_id = request.match_info["charge_point_id"]
    action = request.match_info["action"]
    try:
        payload = await request.json()
    except json.JSONDecodeError:
        return error(422, "InvalidJson", "the body must be a JSON object (the OCPP payload)")
    if not isinstance(payload, dict):
        return error(422, "InvalidPayload", "the body must be a JSON object (the OCPP payload)")
    try:
        answer = await platform.central.call(charge_point_id, action, payload)
    except UnknownChargePoint:
        return error(404, "NotFound", f"no charge point {charge_point_id!r}")
    except NotConnected:
        return error(409, "NotConnected", f"{charge_point_id} is not connected")
    except CallFailed as exc:
        return web.json_response(
            {"error": {"code": exc.code, "message": exc.description or exc.code}}, status=502
        )
    except CallTimeout as exc:
        return error(504, "Timeout", str(exc))
    except OCPPError as exc:
        cause = exc.details.get("cause") if isinstance(exc.details, dict) else None
        return error(422, exc.code, str(cause or exc.description))
    return web.json_response(answer)


def session_view(platform: Platform, record: TransactionRecord) -> dict[str, Any]:
    green = platform.green_energy_wh(record)
    energy = record.energy_wh
    return {
        "id": record.id,
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


def _bool_query(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise web.HTTPUnprocessableEntity(
        text=json.dumps({"error": {"code": "InvalidQuery", "message": "active must be true or false"}}),
        content_type="application/json",
    )


async def list_sessions(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    active = _bool_query(request.query.get("active"))
    records = await platform.store.list_transactions(
        active=active, charge_point_id=request.query.get("chargepoint") or None
    )
    return web.json_response([session_view(platform, r) for r in records])


async def get_session(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    try:
        transaction_id = int(request.match_info["session_id"])
    except ValueError:
        return error(404, "NotFound", "no such session")
    record = await platform.store.get_transaction(transaction_id)
    if record is None:
        return error(404, "NotFound", f"no session {transaction_id}")
    return web.json_response(session_view(platform, record))


async def list_parks(request: web.Request) -> web.Response:
    return web.json_response(request.app[PLATFORM].solar.parks_view())


async def get_park(request: web.Request) -> web.Response:
    park_id = request.match_info["park_id"]
    for park in request.app[PLATFORM].solar.parks_view():
        if park["id"] == park_id:
            return web.json_response(park)
    return error(404, "NotFound", f"no park {park_id!r}")


async def get_allocation(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    site_id = request.match_info["site_id"]
    if site_id not in {s.id for s in platform.settings.sites}:
        return error(404, "NotFound", f"no site {site_id!r}")
    return web.json_response(platform.scheduler.allocation(site_id) or {"site_id": site_id, "setpoints": []})


async def healthz(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    return web.json_response(
        {"status": "ok", "bus_connected": platform.bus.connected.is_set(), "version": platform.version}
    )


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[PLATFORM].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(platform: Platform) -> web.Application:
    app = web.Application(middlewares=[auth_middleware])
    app[PLATFORM] = platform
    app.router.add_get("/ocpp/{charge_point_id}", ocpp_endpoint)
    app.router.add_get("/api/chargepoints", list_chargepoints)
    app.router.add_get("/api/chargepoints/{charge_point_id}", get_chargepoint)
    app.router.add_post("/api/chargepoints/{charge_point_id}/ocpp/{action}", ocpp_action)
    app.router.add_get("/api/sessions", list_sessions)
    app.router.add_get("/api/sessions/{session_id}", get_session)
    app.router.add_get("/api/parks", list_parks)
    app.router.add_get("/api/parks/{park_id}", get_park)
    app.router.add_get("/api/sites/{site_id}/allocation", get_allocation)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app
