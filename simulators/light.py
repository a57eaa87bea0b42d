"""Lightweight mode: thousands of OCPP 1.6 charge points in one process, for load tests.

A full `SimulatedChargePoint` carries an EV model, a profile store and half a
dozen tasks. A light charge point is one task and one WebSocket: it boots,
reports its connector, optionally runs one transaction with a meter register
that grows at a fixed power, heartbeats, and answers every call of the
central system with a plain acceptance. Frames are built by hand (the same
OCPP-J frames the full simulator sends), so that 10,000 of them fit in one
process: see `LightFleet.cost()` and the README for the measured cost.

Connections are opened at `ramp_per_s` so a fleet start is brisk but not a
SYN flood; a broken connection is re-opened with jittered backoff, and
`LightFleet.storm()` breaks them all at once, as a central system redeploy
does.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp

MAX_BACKOFF_S = 10.0

# What a light charger answers to each call of the central system.
_ANSWERS: dict[str, dict[str, object]] = {
    "GetConfiguration": {"configurationKey": [], "unknownKey": []},
    "ChangeConfiguration": {"status": "Accepted"},
    "SetChargingProfile": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"},
    "TriggerMessage": {"status": "Rejected"},
    "DataTransfer": {"status": "UnknownVendorId"},
    "GetDiagnostics": {},
    "UpdateFirmware": {},
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(slots=True)
class FleetStats:
    connected: int = 0
    ever_connected: int = 0
    transactions: int = 0
    calls: int = 0
    errors: Counter[str] = field(default_factory=Counter)


class LightFleet:
    def __init__(
        self,
        url: str,
        count: int,
        *,
        prefix: str = "LOAD-",
        id_tag: str = "LOAD-TAG",
        heartbeat_s: float = 60.0,
        meter_s: float = 30.0,
        power_w: float = 7_400.0,
        transactions: bool = True,
        ramp_per_s: float = 2_000.0,
        seed: int = 1,
        record: frozenset[str] = frozenset(),
        deflate: bool = False,
    ) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        self.url = url.rstrip("/")
        self.count = count
        self.ids = [f"{prefix}{index + 1}" for index in range(count)]  # as the full fleet names them
        self.id_tag = id_tag
        self.heartbeat_s = heartbeat_s
        self.meter_s = meter_s
        self.power_w = power_w
        self.transactions = transactions
        self.ramp_per_s = ramp_per_s
        self.random = random.Random(seed)
        self.stats = FleetStats()
        self.deflate = deflate  # offer permessage-deflate, as the websockets library does by default
        self.record = record  # actions of the central system to keep, with their arrival time
        self.received: list[tuple[float, str, str, dict[str, object]]] = []  # (monotonic, charger, action, payload)
        self.transaction_ids: dict[str, int] = {}
        self.registers: dict[str, float] = {}  # Wh, lifetime, per charger
        self.all_up = asyncio.Event()
        self._sockets: dict[str, aiohttp.ClientWebSocketResponse] = {}
        self._booted: set[str] = set()
        self._started = time.monotonic()
        self._cpu_start = time.process_time()
        self._rss_start_kib = _rss_kib()

    async def run(self) -> None:
        """Open every connection at the ramp rate and keep them until cancelled."""
        _raise_fd_limit()
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session, asyncio.TaskGroup() as group:
            pause = 100 / self.ramp_per_s
            for index, charger_id in enumerate(self.ids):
                group.create_task(self._charger(session, charger_id))
                if index % 100 == 99:
                    await asyncio.sleep(pause)

    def storm(self) -> int:
        """Break every connection at once; each comes back after a short jittered backoff."""
        broken = 0
        self.all_up.clear()
        for ws in list(self._sockets.values()):
            sock = ws.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # no close frame: the peer just sees the line go
                    broken += 1
                except OSError:
                    pass
        return broken

    def cost(self) -> dict[str, float]:
        """What the simulator itself spends per connected charger (RSS and CPU)."""
        connected = max(self.stats.connected, 1)
        wall = max(time.monotonic() - self._started, 1e-9)
        return {
            "rss_kib_per_charger": (_rss_kib() - self._rss_start_kib) / connected,
            "cpu_percent_per_1000": (time.process_time() - self._cpu_start) / wall * 100 * 1000 / connected,
        }

    async def _charger(self, session: aiohttp.ClientSession, charger_id: str) -> None:
        backoff = 0.5
        while True:
            try:
                async with session.ws_connect(
                    f"{self.url}/{charger_id}",
                    protocols=("ocpp1.6",),
                    heartbeat=None,
                    autoping=True,
                    compress=15 if self.deflate else 0,
                ) as ws:
                    self._sockets[charger_id] = ws
                    backoff = 0.5
                    await self._session(ws, charger_id)
            except (aiohttp.ClientError, OSError, TimeoutError, ConnectionError) as exc:
                self.stats.errors[type(exc).__name__] += 1
            finally:
                self._sockets.pop(charger_id, None)
                if charger_id in self._booted:
                    self._booted.discard(charger_id)
                    self.stats.connected -= 1
            await asyncio.sleep(backoff * self.random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _session(self, ws: aiohttp.ClientWebSocketResponse, charger_id: str) -> None:
        session = _LightSession(self, ws, charger_id)
        await session.call("BootNotification", {"chargePointVendor": "CoopGrid", "chargePointModel": "SimLight"})
        self._booted.add(charger_id)
        self.stats.connected += 1
        self.stats.ever_connected += 1
        if self.stats.connected == self.count:
            self.all_up.set()
        await session.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
        transaction_id = self.transaction_ids.get(charger_id)
        if self.transactions and transaction_id is None:
            answer = await session.call(
                "StartTransaction", {"connectorId": 1, "idTag": self.id_tag, "meterStart": 0, "timestamp": _now()}
            )
            transaction_id = int(answer["transactionId"])  # type: ignore[call-overload]
            self.transaction_ids[charger_id] = transaction_id
            self.stats.transactions += 1
        await session.idle(transaction_id)


class _LightSession:
    """One connection of a light charger: calls answered in order, the central system's calls answered at once."""

    def __init__(self, fleet: LightFleet, ws: aiohttp.ClientWebSocketResponse, charger_id: str) -> None:
        self.fleet = fleet
        self.ws = ws
        self.charger_id = charger_id
        self.counter = 0

    async def receive(self, within_s: float) -> list[object] | None:
        """One frame; calls of the central system are answered at once, plainly. None on timeout."""
        try:
            message = await self.ws.receive(timeout=within_s)
        except TimeoutError:
            return None
        if message.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"socket {message.type.name.lower()}")
        frame: list[object] = json.loads(message.data)
        if frame[0] == 2:
            action = str(frame[2])
            if action in self.fleet.record:
                self.fleet.received.append((time.monotonic(), self.charger_id, action, frame[3]))  # type: ignore[arg-type]
            await self.ws.send_str(json.dumps([3, frame[1], _ANSWERS.get(action, {"status": "Accepted"})]))
        return frame

    async def call(self, action: str, payload: dict[str, object]) -> dict[str, object]:
        self.counter += 1
        unique = f"{self.counter}"
        await self.ws.send_str(json.dumps([2, unique, action, payload]))
        self.fleet.stats.calls += 1
        deadline = time.monotonic() + 120
        while True:
            frame = await self.receive(max(0.0, deadline - time.monotonic()))
            if frame is None:
                raise TimeoutError(f"{action}: no answer in 120 s")
            if frame[0] in (3, 4) and frame[1] == unique:
                if frame[0] == 4:
                    raise ConnectionError(f"{action}: {frame[2]} {frame[3]}")
                return frame[2]  # type: ignore[return-value]

    async def idle(self, transaction_id: int | None) -> None:
        """Listen (the central system may call at any moment) between meter values and heartbeats, for ever."""
        fleet, charger_id = self.fleet, self.charger_id
        last_meter = last_beat = time.monotonic()
        while True:
            due = time.monotonic() + min(fleet.meter_s, fleet.heartbeat_s) * fleet.random.uniform(0.9, 1.1)
            while (left := due - time.monotonic()) > 0:
                await self.receive(left)
            now = time.monotonic()
            if transaction_id is not None and now - last_meter >= fleet.meter_s * 0.9:
                register = fleet.registers[charger_id] = (
                    fleet.registers.get(charger_id, 0.0) + fleet.power_w * (now - last_meter) / 3600.0
                )
                last_meter = now
                sample = {"value": f"{register:.0f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
                meter = {"timestamp": _now(), "sampledValue": [sample]}
                await self.call(
                    "MeterValues", {"connectorId": 1, "transactionId": transaction_id, "meterValue": [meter]}
                )
            if now - last_beat >= fleet.heartbeat_s * 0.9:
                last_beat = now
                await self.call("Heartbeat", {})


def _rss_kib() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


__all__ = ["FleetStats", "LightFleet"]
