"""A simulated OCPP 1.6J charge point with an EV model, built on the `ocpp` library's client side.

Black box by design: it imports nothing of the server, only `ocpp`,
`websockets` and the standard library, so that contract drift between the two
shows up in the tests.

What it does: connects (reconnecting with backoff), boots, reports connector
status, heartbeats; plays a plan of EV arrivals (authorise, start, meter
values aligned to the simulated clock, stop when full or at departure);
honours every charging profile it is given (TxProfile over TxDefaultProfile,
stack levels, schedule periods, amperes or watts); answers the commands a
real charger answers. While disconnected it keeps charging and queues its
transaction messages, replaying them in order once back.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ocpp.v16 import call
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from simulators.client16 import Client16
from simulators.clock import SimClock
from simulators.ev import EV, EVArrival, ProfileStore, drawn_current_a
from simulators.faults import Faults
from simulators.file_transfer import FileTransfers
from simulators.tasks import honour_cancellation

log = logging.getLogger(__name__)
EV_FLOWS = ("EVChargingNeeds", "EVChargingSchedule")  # ISO 15118 flows of the 2.0.1 station

__all__ = ["EVArrival", "Faults", "SimulatedChargePoint"]

PHYSICS_STEP_REAL_S = 0.1
MAX_BACKOFF_S = 10.0
TRANSACTION_ACTIONS = frozenset({"StartTransaction", "MeterValues", "StopTransaction", "TransactionEvent"})


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class _Connector:
    id: int
    status: str = "Available"
    ev: EV | None = None
    transaction_id: Any = None  # int (1.6) or the charger's own string (2.0.1)
    tx_started_s: float = 0.0
    offered_a: float = 0.0
    drawn_a: float = 0.0
    energy_wh: float = 0.0  # the register, lifetime
    available: bool = True
    phases: int = 0  # phases in use, as the profile in force says (0: not yet known, the charger's own)


class SimulatedChargePoint(FileTransfers):
    def __init__(
        self,
        charge_point_id: str,
        url: str,
        *,
        clock: SimClock,
        connectors: int = 1,
        phases: int = 3,
        max_current_a: float = 16.0,
        voltage_v: float = 230.0,
        id_tag: str = "DEMO-TAG",
        vendor: str = "CoopGrid",
        model: str = "SimCP",
        meter_interval_s: float = 60.0,
        ev_plan: list[EVArrival] | None = None,
        seed: int | None = None,
        reject_profiles: bool = False,
        faults: Faults | None = None,
        serial_number: str | None = None,
        firmware_version: str = "1.0.0",
        password: str | None = None,
    ) -> None:
        self.id = charge_point_id
        self.url = url.rstrip("/") + "/" + charge_point_id
        self.clock = clock
        self.phases = phases
        self.max_current_a = max_current_a
        self.voltage_v = voltage_v
        self.id_tag = id_tag
        self.vendor = vendor
        self.model = model
        self.meter_interval_s = meter_interval_s
        self.ev_plan = sorted(ev_plan or [], key=lambda a: a.arrive_after_s)
        self.random = random.Random(seed)
        self.faults = faults or Faults()
        if reject_profiles:
            self.faults = replace(self.faults, reject_profiles=True)
        self.serial_number = serial_number or f"SIM-{charge_point_id}"[:25]
        self.firmware_version = firmware_version
        self.password = password
        self.connectors = {i: _Connector(i) for i in range(1, connectors + 1)}
        self.profiles = ProfileStore()
        self.configuration: dict[str, str] = {
            "ChargingScheduleAllowedChargingRateUnit": "Current",
            "MeterValueSampleInterval": str(int(meter_interval_s)),
            "HeartbeatInterval": "300",
        }
        self._start_runtime()

    def _start_runtime(self) -> None:
        """What the simulator keeps while it runs: commands it was given, queues between its loops, counters."""
        self.local_list_version = 0
        self.resets: list[str] = []
        self.remote_starts: asyncio.Queue[tuple[int, str, EVArrival]] = asyncio.Queue()
        self.triggered: asyncio.Queue[str] = asyncio.Queue()
        self.status_changes: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self.reservations: dict[int, int] = {}  # reservation id -> connector id
        self.heartbeat_interval_s = 300.0
        # What a test or an operator of the simulator reads back:
        self.sent: Counter[str] = Counter()  # actions sent, duplicates included
        self.connections = 0  # successful WebSocket handshakes
        self.drops = 0  # connections broken by the drop fault or a storm
        self.boot_errors = 0  # BootNotifications answered with a CallError
        self._client: Client16 | None = None
        self._ws: Any = None
        self._online = asyncio.Event()
        self._outbox: list[Any] = []  # transaction messages waiting for a connection
        self._meter_samples = 0
        self._start_files()

    @property
    def reject_profiles(self) -> bool:
        return self.faults.reject_profiles

    # -- what observers read -------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._online.is_set()

    def offered_limit_a(self, connector_id: int = 1) -> float:
        return self.connectors[connector_id].offered_a

    def drawn_current_a(self, connector_id: int = 1) -> float:
        return self.connectors[connector_id].drawn_a

    def transaction_id(self, connector_id: int = 1) -> int | None:
        return self.connectors[connector_id].transaction_id

    @property
    def power_w(self) -> float:
        return sum(c.drawn_a * (c.phases or self.phases) for c in self.connectors.values()) * self.voltage_v

    @property
    def energy_wh(self) -> float:
        return sum(c.energy_wh for c in self.connectors.values())

    # -- lifecycle ------------------------------------------------------------------------
    async def run(self) -> None:
        """Run until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._connection_loop())
            group.create_task(self._physics_loop())
            group.create_task(self._meter_loop())
            group.create_task(self._remote_start_loop())
            group.create_task(self._status_loop())
            for connector in self.connectors.values():
                group.create_task(self._plan_loop(connector))

    def disconnect(self) -> bool:
        """Break the connection now, as a network fault does (no close frame); it comes back by itself."""
        ws = self._ws
        if ws is None or ws.transport is None:
            return False
        self.drops += 1
        ws.transport.abort()
        return True

    async def _connection_loop(self) -> None:
        backoff = 0.5
        subprotocols = None if self.faults.has("no-subprotocol") else [self.subprotocol]
        headers = {}
        if self.password is not None:  # security profile 1: HTTP Basic with the charger id as user
            token = base64.b64encode(f"{self.id}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        while True:
            try:
                async with connect(
                    self.url,
                    subprotocols=subprotocols,  # type: ignore[arg-type]
                    additional_headers=headers,
                    open_timeout=10,
                    ping_interval=None,
                ) as ws:
                    client = self._make_client(ws)
                    self._client, self._ws = client, ws
                    self.connections += 1
                    backoff = 0.5
                    async with asyncio.TaskGroup() as group:
                        receiving = group.create_task(client.start())
                        if self.faults.drop_every_s:
                            group.create_task(self._drop_later(self.faults.drop_every_s))
                        await self._come_online(client)
                        group.create_task(self._heartbeat_loop(client))
                        group.create_task(self._trigger_loop(client))
                        await receiving
            except* (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as errors:
                log.info("%s: connection lost (%s); retrying in %.1fs", self.id, errors.exceptions[0], backoff)
            finally:
                self._online.clear()
                self._client, self._ws = None, None
            honour_cancellation()
            await asyncio.sleep(backoff + self.random.uniform(0, backoff / 2))
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _drop_later(self, every_s: float) -> None:
        await asyncio.sleep(every_s * self.random.uniform(0.5, 1.5))
        self.disconnect()

    async def _come_online(self, client: Client16) -> None:
        while True:
            answer = await self._call(client, self._boot_message())
            if answer is None:  # a CallError: boot again later, as real chargers do
                self.boot_errors += 1
                await asyncio.sleep(min(self.heartbeat_interval_s, 5.0))
                continue
            self.heartbeat_interval_s = float(answer.interval or 300)
            if answer.status == "Accepted":
                break
            await asyncio.sleep(min(self.heartbeat_interval_s, 5.0))
        for connector in self.connectors.values():
            await self._call(client, self._status(connector))
        while self._outbox:  # replay what happened offline, in order
            message = self._outbox[0]
            await self._call(client, message)
            self._outbox.pop(0)
        self._online.set()

    async def _call(self, client: Any, message: Any) -> Any:
        """One call, counted; quirky payloads skip the library's own outgoing validation."""
        action = type(message).__name__
        self.sent[action] += 1
        answer = await client.call(message, skip_schema_validation=bool(self.faults.quirks))
        honour_cancellation()  # the library's wait_for can swallow one (see simulators.tasks)
        return answer

    async def _heartbeat_loop(self, client: Client16) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            await self._call(client, self._heartbeat_message())

    async def _trigger_loop(self, client: Client16) -> None:
        while True:
            message = await self.triggered.get()
            await asyncio.sleep(0)  # after the TriggerMessage answer
            if message == "Heartbeat":
                await self._call(client, self._heartbeat_message())
            elif message == "StatusNotification":
                for connector in self.connectors.values():
                    await self._call(client, self._status(connector))
            elif message == "MeterValues":
                for connector in self.connectors.values():
                    await self._call(client, self._meter_values(connector))
            elif message == "BootNotification":
                await self._call(client, self._boot_message())
            elif message.partition(":")[0] in EV_FLOWS:
                for step in self._ev_messages(message):
                    await asyncio.sleep(0.2)
                    await self._call(client, step)
            else:
                await self._file_flow(client, message)

    def _ev_messages(self, flow: str) -> list[Any]:
        """What an ISO 15118 EV tells in a flow: nothing on 1.6 (the 2.0.1 station's EVs do)."""
        return []

    def _file_notification(self, flow: str, status: str, request_id: int | None) -> Any:
        """1.6: the core notifications, or the security extension's for a signed update or a GetLog."""
        if flow == "FirmwareUpdate":
            return call.FirmwareStatusNotification(status=status)
        if flow == "SignedFirmwareUpdate":
            return call.SignedFirmwareStatusNotification(status=status, request_id=request_id)
        if flow == "DiagnosticsUpload":
            return call.DiagnosticsStatusNotification(status=status)
        return call.LogStatusNotification(status=status, request_id=request_id)

    async def _status_loop(self) -> None:
        """Status changes the central system asked for (availability, reservations), sent after the answer."""
        while True:
            connector_id, status = await self.status_changes.get()
            await asyncio.sleep(0)
            await self._set_status(self.connectors[connector_id], status)

    async def _send(self, message: Any, *, queue_when_offline: bool = False) -> Any:
        """Send when online; transaction messages wait in the outbox while offline."""
        client = self._client
        if client is None or not self._online.is_set():
            if queue_when_offline:
                self._outbox.append(message)
                return None
            await self._online.wait()
            client = self._client
            assert client is not None
        try:
            answer = await self._call(client, message)
            if type(message).__name__ in TRANSACTION_ACTIONS and self._duplicate(message):
                await self._call(client, message)  # the same message again, under a new message id
            return answer
        except (ConnectionClosed, TimeoutError, OSError):
            if queue_when_offline:
                self._outbox.append(message)
            return None

    def _duplicate(self, message: Any) -> bool:
        if type(message).__name__ == "StopTransaction" and self.faults.has("double-stop"):
            return True
        return self.faults.duplicate_rate > 0 and self.random.random() < self.faults.duplicate_rate

    def _status(self, connector: _Connector) -> Any:
        status = connector.status.lower() if self.faults.has("enum-case") else connector.status
        return call.StatusNotification(
            connector_id=connector.id, error_code="NoError", status=status, timestamp=_iso(self.clock.now())
        )

    async def _set_status(self, connector: _Connector, status: str) -> None:
        if connector.status != status:
            connector.status = status
            await self._send(self._status(connector), queue_when_offline=True)

    # -- EVs -----------------------------------------------------------------------------------
    async def _plan_loop(self, connector: _Connector) -> None:
        plan = [a for i, a in enumerate(self.ev_plan) if i % len(self.connectors) == connector.id - 1]
        for arrival in plan:
            await self.clock.sleep_until(arrival.arrive_after_s)
            while connector.ev is not None:  # still busy with an earlier EV
                await self.clock.sleep(60)
            await self._charge(connector, self.id_tag, arrival)

    async def _remote_start_loop(self) -> None:
        while True:
            connector_id, id_tag, arrival = await self.remote_starts.get()
            connector = self.connectors[connector_id]
            if connector.ev is None:
                asyncio.get_running_loop().create_task(self._charge(connector, id_tag, arrival))

    async def _charge(self, connector: _Connector, id_tag: str, arrival: EVArrival) -> None:
        await self._online.wait()
        connector.ev = EV.arriving(arrival)
        await self._set_status(connector, "Preparing")
        if not await self._authorize(id_tag) or not await self._start(connector, id_tag):
            connector.ev = None
            await self._set_status(connector, "Available")
            return
        connector.tx_started_s = self.clock.elapsed_s()
        await self._set_status(connector, "Charging")
        ev = connector.ev
        while not ev.full and self.clock.elapsed_s() < ev.departs_at_s:
            await self.clock.sleep(min(60.0, max(1.0, ev.departs_at_s - self.clock.elapsed_s())))
            if connector.drawn_a > 0:
                await self._set_status(connector, "Charging")
            elif connector.offered_a < 6.0:
                await self._set_status(connector, "SuspendedEVSE")
        await self._stop(connector, id_tag, "EVDisconnected" if not ev.full else "Local")
        self.profiles.drop_transaction(connector.transaction_id)
        connector.transaction_id = None
        connector.ev = None
        connector.drawn_a = 0.0
        await self._set_status(connector, "Finishing")
        await self._set_status(connector, "Available" if connector.available else "Unavailable")

    # -- the protocol: OCPP 1.6J here, overridden for 2.0.1 -------------------------------
    subprotocol = "ocpp1.6"

    def _make_client(self, ws: Any) -> Any:
        return Client16(self, ws)

    def _boot_message(self) -> Any:
        serial, firmware = self.serial_number, self.firmware_version
        if self.faults.has("long-strings"):  # seen in the field: a 33-character serial where 1.6 allows 25
            serial, firmware = (serial + "-" + "X" * 33)[:33], firmware + "-build." + "0" * 60
        return call.BootNotification(
            charge_point_vendor=self.vendor,
            charge_point_model=self.model,
            charge_point_serial_number=serial,
            firmware_version=firmware,
        )

    def _heartbeat_message(self) -> Any:
        return call.Heartbeat()

    async def _authorize(self, id_tag: str) -> bool:
        answer = await self._send(call.Authorize(id_tag=id_tag))
        return answer is not None and answer.id_tag_info["status"] == "Accepted"

    async def _start(self, connector: _Connector, id_tag: str) -> bool:
        started = await self._send(
            call.StartTransaction(
                connector_id=connector.id,
                id_tag=id_tag,
                meter_start=int(connector.energy_wh),
                timestamp=_iso(self.clock.now()),
            )
        )
        if started is None or started.id_tag_info["status"] != "Accepted":
            return False
        connector.transaction_id = started.transaction_id
        return True

    async def _stop(self, connector: _Connector, id_tag: str, reason: str) -> None:
        await self._send(
            call.StopTransaction(
                meter_stop=int(connector.energy_wh),
                timestamp=_iso(self.clock.now()),
                transaction_id=connector.transaction_id,
                reason=reason,
                id_tag=id_tag,
            ),
            queue_when_offline=True,
        )

    async def _physics_loop(self) -> None:
        """Integrate energy: every step each EV draws min(offered, what it accepts)."""
        last = self.clock.elapsed_s()
        while True:
            await asyncio.sleep(PHYSICS_STEP_REAL_S)
            now_s = self.clock.elapsed_s()
            dt_h = (now_s - last) / 3600.0
            last = now_s
            now = self.clock.now()
            for connector in self.connectors.values():
                connector.offered_a, connector.phases = self.profiles.offer(
                    connector.id,
                    connector.transaction_id,
                    now_s - connector.tx_started_s,
                    now,
                    self.phases,
                    self.voltage_v,
                    self.max_current_a,
                )
                # No energy flows before the transaction is started (authorised), as on a real charger.
                ev = connector.ev if connector.transaction_id is not None else None
                connector.drawn_a = drawn_current_a(connector.offered_a, ev, connector.phases, self.voltage_v)
                if connector.ev is not None and connector.drawn_a > 0:
                    energy = connector.drawn_a * connector.phases * self.voltage_v * dt_h
                    connector.energy_wh += energy
                    connector.ev.charge(energy)

    async def _meter_loop(self) -> None:
        """MeterValues at clock-aligned simulated instants for every running transaction."""
        while True:
            elapsed = self.clock.elapsed_s()
            now_ts = self.clock.now().timestamp()
            wait = self.meter_interval_s - (now_ts % self.meter_interval_s)
            await self.clock.sleep_until(elapsed + wait)
            for connector in self.connectors.values():
                if connector.transaction_id is not None:
                    await self._send(self._meter_values(connector), queue_when_offline=True)
            if self.faults.has("connector0-sum") and any(c.transaction_id for c in self.connectors.values()):
                await self._send(self._meter_values_connector0())

    def _register_wh(self, connector: _Connector) -> float:
        self._meter_samples += 1
        if self.faults.has("zero-register") and self._meter_samples % 5 == 0:
            return 0.0  # a register that drops to 0 for one sample
        return connector.energy_wh

    def _meter_values_connector0(self) -> Any:
        energy = sum(c.energy_wh for c in self.connectors.values())
        sample = {"value": f"{energy:.0f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
        return call.MeterValues(
            connector_id=0, meter_value=[{"timestamp": _iso(self.clock.now()), "sampled_value": [sample]}]
        )

    def _meter_values(self, connector: _Connector) -> Any:
        power = connector.drawn_a * (connector.phases or self.phases) * self.voltage_v
        samples = [
            {
                "value": f"{self._register_wh(connector):.0f}",
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
            },
            {"value": f"{power:.0f}", "measurand": "Power.Active.Import", "unit": "W"},
        ]
        samples += [
            {"value": f"{connector.drawn_a:.1f}", "measurand": "Current.Import", "unit": "A", "phase": f"L{phase}"}
            for phase in range(1, (connector.phases or self.phases) + 1)
        ]
        if self.faults.has("unknown-measurand"):
            samples.append({"value": "41.5", "measurand": "Temperature.Board", "unit": "Celsius"})
        return call.MeterValues(
            connector_id=connector.id,
            transaction_id=connector.transaction_id,
            meter_value=[{"timestamp": _iso(self.clock.now()), "sampled_value": samples}],
        )
