"""The OCPP WebSocket endpoint: identity, credentials and subprotocol checked before the upgrade."""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets

from aiohttp import WSCloseCode, WSMsgType, web

from chargepoints.errors import ConnectionEnded
from chargepoints.identity import valid_identity, why_invalid
from gateway.api.context import api, error
from gateway.api.table import ALL_ROLES, Route
from gateway.auth import hash_secret, parse_basic_auth, verify_secret

log = logging.getLogger(__name__)


OCPP_SUBPROTOCOLS = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1", "ocpp2.1": "2.1"}


class WsConnection:
    """chargepoints.ports.Connection over an aiohttp WebSocket.

    The server pings every heartbeat interval; a charger silent (no frame, no
    pong) for `idle_timeout_s` (three heartbeat intervals) is considered gone.
    """

    def __init__(self, ws: web.WebSocketResponse, idle_timeout_s: float) -> None:
        self._ws = ws
        self._idle_timeout_s = idle_timeout_s
        self._loop = asyncio.get_running_loop()
        self._heard = self._loop.time()  # the last frame or pong, for ping_every to judge silence by
        self._silent = False

    async def recv(self) -> str:
        # No timeout per frame (a timer armed and cancelled for every message): ping_every watches the silence.
        while True:
            message = await self._ws.receive()
            self._heard = self._loop.time()
            if message.type == WSMsgType.TEXT:
                return str(message.data)
            if message.type == WSMsgType.BINARY:
                return bytes(message.data).decode("utf-8", errors="replace")
            if message.type == WSMsgType.PING:
                await self._ws.pong(message.data)
                continue
            if message.type == WSMsgType.PONG:
                continue
            if self._silent:
                raise ConnectionEnded(f"silent for {self._idle_timeout_s:.0f}s")
            raise ConnectionEnded(str(message.type))

    async def close(self) -> None:
        await self._ws.close(code=WSCloseCode.GOING_AWAY, message=b"replaced by a newer connection")

    async def ping_every(self, interval_s: float) -> None:
        """Ping every `interval_s`; a charger that sent nothing (not even a pong) for `idle_timeout_s` is
        closed on (checked as often as it is pinged, and at least three times in an idle timeout)."""
        check_s = min(interval_s, self._idle_timeout_s / 3)
        pinged = self._loop.time()
        while not self._ws.closed:
            await asyncio.sleep(check_s)
            now = self._loop.time()
            if now - self._heard > self._idle_timeout_s:
                self._silent = True
                await self._ws.close(code=WSCloseCode.GOING_AWAY, message=b"silent")
                return
            if now - pinged >= interval_s - 1e-3:
                pinged = now
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


@functools.cache
def _unknown_charger_hash() -> str:
    """What a Basic password for an id no charger has is checked against (made once, when first needed: an
    scrypt hash costs ~20 ms, not worth paying at every import)."""
    return hash_secret(secrets.token_urlsafe(24))


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


async def _password_opens(request: web.Request, charge_point_id: str, password_hash: str | None) -> bool:
    """HTTP Basic with the charger's password (during a rotation: the old one, or the new, which then stays)."""
    given = parse_basic_auth(request.headers.get("Authorization"))
    if given is None or given[0] != charge_point_id or not password_hash:
        return False
    if verify_secret(given[1], password_hash):
        return True  # the current password (during a rotation: the old one, until the new is used)
    store = api(request).store
    next_hash = await store.next_password_hash(charge_point_id)
    if next_hash and verify_secret(given[1], next_hash):
        await store.promote_next_password(charge_point_id)
        log.info("%s connected with its new password: the old one is no longer accepted", charge_point_id)
        return True
    return False


async def _meets(request: web.Request, charge_point_id: str, profile: int, password_hash: str | None) -> bool:
    """Whether this connection is one of `profile`: 1 Basic, 2 Basic over TLS, 3 a client certificate."""
    if profile >= 2 and not request.secure:
        return False
    if profile == 3:
        return _peer_common_name(request) == charge_point_id
    return await _password_opens(request, charge_point_id, password_hash)


async def check_charger_credentials(request: web.Request, charge_point_id: str) -> web.Response | None:
    """Enforce the charger's security profile before the WebSocket upgrade.

    Profile 1: HTTP Basic (user = charger id); 2: the same over TLS; 3: a TLS
    client certificate whose CN is the charger id. None when allowed.
    """
    context = api(request)
    credentials = await context.store.get_credentials(charge_point_id)
    profile, password_hash = credentials if credentials else (0, None)
    if credentials is None:
        if request.headers.get("Authorization"):
            # as long as checking a known charger's password: the answer's timing tells no one which ids exist
            given = parse_basic_auth(request.headers.get("Authorization"))
            verify_secret(given[1] if given else "", _unknown_charger_hash())
        return None
    pending = await context.store.next_security_profile(charge_point_id)
    if pending is not None and await _meets(request, charge_point_id, pending, password_hash):
        await context.store.promote_security_profile(charge_point_id)  # the old profile is refused from now on
        log.info("%s connected with security profile %d: profile %d no longer opens", charge_point_id, pending, profile)
        return None
    if profile == 0:
        return None
    if profile >= 2 and not request.secure:
        return error(403, "TlsRequired", f"security profile {profile} requires wss://")
    if profile == 3:
        if _peer_common_name(request) != charge_point_id:
            return error(401, "Unauthorized", "a client certificate with CN = the charge point id is required")
        return None
    if await _password_opens(request, charge_point_id, password_hash):
        return None
    response = error(401, "Unauthorized", "HTTP Basic credentials of this charge point are required")
    response.headers["WWW-Authenticate"] = 'Basic realm="coopgrid-ocpp", charset="UTF-8"'
    return response


async def ocpp_endpoint(request: web.Request) -> web.StreamResponse:
    context = api(request)
    charge_point_id = request.match_info["charge_point_id"]
    if not valid_identity(charge_point_id):  # before any state, row or log line holds it
        context.metrics.refused_identities.inc()
        log.warning("refused a WebSocket upgrade from %s: %s", request.remote, why_invalid(charge_point_id))
        return error(400, "InvalidIdentity", why_invalid(charge_point_id))
    refused = await check_charger_credentials(request, charge_point_id)
    if refused is not None:
        log.warning("refused %s: %s", charge_point_id, refused.text)
        return refused
    header = request.headers.get("Sec-WebSocket-Protocol")
    chosen = choose_subprotocol(header, context.supported_versions, context.settings.ocpp.strict_subprotocol)
    if chosen is None:
        log.warning("refused %s: offered subprotocols %.100r", charge_point_id, header)
        return error(400, "UnsupportedSubprotocol", f"offered {header!r}; we speak {sorted(OCPP_SUBPROTOCOLS)}")
    ocpp = context.settings.ocpp
    ws = web.WebSocketResponse(
        protocols=(chosen,) if header else (),
        autoping=False,
        max_msg_size=ocpp.max_frame_bytes,
        compress=ocpp.websocket_compression,
    )
    await ws.prepare(request)
    log.info("charger %s connected (%s)", charge_point_id, OCPP_SUBPROTOCOLS[chosen])
    connection = WsConnection(ws, idle_timeout_s=3 * ocpp.heartbeat_interval_s)
    try:
        async with asyncio.TaskGroup() as group:
            pinger = group.create_task(connection.ping_every(ocpp.heartbeat_interval_s))
            await context.central.serve(charge_point_id, OCPP_SUBPROTOCOLS[chosen], connection)
            pinger.cancel()
    finally:
        await ws.close()
        log.info("charger %s disconnected", charge_point_id)
    return ws


ROUTES: tuple[Route, ...] = (
    Route(
        "get",
        "/ocpp/{charge_point_id}",
        "ocpp",
        ocpp_endpoint,
        "The OCPP-J WebSocket endpoint (chargers authenticate by their security profile, not by token)",
        roles=ALL_ROLES,
        public=True,
        websocket=True,
        tag="ocpp",
    ),
)
