"""The central system: registry of live sessions, charger state, transactions.

One CentralSystem per process. Sessions (one per WebSocket) call into it; the
gateway serves connections through `serve()` and sends commands through
`call()` and `set_current_limit()`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from chargepoints.errors import NotConnected, UnknownChargePoint
from chargepoints.events import (
    ChargerConnected,
    ChargerDisconnected,
    ConnectorStatusChanged,
    MeterSample,
    TransactionStarted,
    TransactionStopped,
)
from chargepoints.meter import Reading
from chargepoints.ports import ChargePointRepository, ChargerRecord, Clock, Connection, Publish
from chargepoints.profiles import tx_profile_16
from chargepoints.v16 import Session16

log = logging.getLogger(__name__)

UnknownPolicy = Literal["accept", "pending", "reject"]
SUPPORTED_VERSIONS = ("1.6",)


@dataclass(slots=True)
class ChargerState:
    """What we know live about a charger (in memory; the record is persisted)."""

    id: str
    connected: bool = False
    ocpp_version: str | None = None
    registration: str = "Accepted"
    connectors: dict[int, str] = field(default_factory=dict)
    last_seen: datetime | None = None
    site_id: str | None = None


class CentralSystem:
    def __init__(
        self,
        repository: ChargePointRepository,
        publish: Publish,
        clock: Clock,
        *,
        unknown_chargers: UnknownPolicy = "accept",
        heartbeat_interval_s: int = 300,
        response_timeout_s: float = 30.0,
    ) -> None:
        self._repo = repository
        self._publish = publish
        self.now = clock
        self.unknown_chargers = unknown_chargers
        self.heartbeat_interval_s = heartbeat_interval_s
        self.response_timeout_s = response_timeout_s
        self._sessions: dict[str, Session16] = {}
        self._state: dict[str, ChargerState] = {}

    # -- registry -------------------------------------------------------------
    def state(self, charge_point_id: str) -> ChargerState:
        state = self._state.get(charge_point_id)
        if state is None:
            state = self._state[charge_point_id] = ChargerState(id=charge_point_id)
        return state

    def states(self) -> list[ChargerState]:
        return sorted(self._state.values(), key=lambda s: s.id)

    def is_connected(self, charge_point_id: str) -> bool:
        return charge_point_id in self._sessions

    def touch(self, charge_point_id: str) -> None:
        self.state(charge_point_id).last_seen = self.now()

    async def register(self, record: ChargerRecord) -> None:
        """Make a charger known (from configuration or REST), or reload its changed record."""
        existing = await self._repo.get_charger(record.id)
        if existing is None:
            await self._repo.save_charger(record)
            existing = record
        elif record.site_id and existing.site_id != record.site_id:
            existing.site_id = record.site_id
            await self._repo.save_charger(existing)
        state = self.state(existing.id)
        state.registration = existing.registration
        state.site_id = existing.site_id
        state.ocpp_version = existing.ocpp_version
        state.last_seen = existing.last_seen

    # -- connections ----------------------------------------------------------
    async def serve(self, charge_point_id: str, ocpp_version: str, connection: Connection) -> None:
        """Serve one OCPP connection until it closes.

        A new connection for the same id replaces the old session (chargers
        probe with one protocol and reconnect with another).
        """
        if ocpp_version not in SUPPORTED_VERSIONS:
            raise ValueError(f"unsupported OCPP version {ocpp_version}")
        session = Session16(charge_point_id, connection, self)
        self._sessions[charge_point_id] = session
        state = self.state(charge_point_id)
        state.connected = True
        state.ocpp_version = ocpp_version
        state.last_seen = self.now()
        await self._publish(ChargerConnected(charge_point_id, ocpp_version, self.now()))
        try:
            await session.run()
        finally:
            if self._sessions.get(charge_point_id) is session:
                del self._sessions[charge_point_id]
                state.connected = False
                await self._publish(ChargerDisconnected(charge_point_id, self.now()))

    def _session(self, charge_point_id: str) -> Session16:
        session = self._sessions.get(charge_point_id)
        if session is None:
            if charge_point_id in self._state:
                raise NotConnected(charge_point_id)
            raise UnknownChargePoint(charge_point_id)
        return session

    async def call(self, charge_point_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send any CSMS-initiated action; answers the charger's response payload."""
        return await self._session(charge_point_id).call_raw(action, payload)

    async def set_current_limit(
        self,
        charge_point_id: str,
        connector_id: int,
        limit_a: float,
        transaction_id: int | None = None,
        phases: int | None = None,
    ) -> str:
        """Cap one connector's current; returns the charger's status answer."""
        payload = tx_profile_16(connector_id, limit_a, transaction_id, phases)
        answer = await self.call(charge_point_id, "SetChargingProfile", payload)
        return str(answer.get("status", "Unknown"))

    # -- called by sessions -----------------------------------------------------
    async def boot(
        self,
        charge_point_id: str,
        ocpp_version: str,
        *,
        vendor: str,
        model: str,
        serial_number: str | None,
        firmware_version: str | None,
    ) -> tuple[str, int]:
        record = await self._repo.get_charger(charge_point_id)
        if record is None:
            registration = {"accept": "Accepted", "pending": "Pending", "reject": "Rejected"}[
                self.unknown_chargers
            ]
            record = ChargerRecord(id=charge_point_id, registration=registration)
        record.ocpp_version = ocpp_version
        record.vendor = vendor
        record.model = model
        record.serial_number = serial_number
        record.firmware_version = firmware_version
        record.last_seen = self.now()
        await self._repo.save_charger(record)
        state = self.state(charge_point_id)
        state.registration = record.registration
        state.site_id = record.site_id
        interval = self.heartbeat_interval_s if record.registration == "Accepted" else 60
        return record.registration, interval

    async def connector_status(
        self, charge_point_id: str, connector_id: int, status: str, error_code: str, ts: datetime
    ) -> None:
        self.state(charge_point_id).connectors[connector_id] = status
        await self._publish(ConnectorStatusChanged(charge_point_id, connector_id, status, error_code, ts))

    async def authorize(self, id_tag: str) -> str:
        return await self._repo.id_tag_status(id_tag, self.now())

    async def start_transaction(
        self, charge_point_id: str, connector_id: int, id_tag: str, meter_start_wh: float, ts: datetime
    ) -> tuple[int, str]:
        status = await self.authorize(id_tag)
        record, created = await self._repo.start_transaction(
            charge_point_id, connector_id, id_tag, meter_start_wh, ts
        )
        if created:
            await self._publish(
                TransactionStarted(charge_point_id, connector_id, record.id, id_tag, meter_start_wh, ts)
            )
        return record.id, status

    async def stop_transaction(
        self, charge_point_id: str, transaction_id: int, meter_stop_wh: float, ts: datetime, reason: str
    ) -> None:
        record, changed = await self._repo.stop_transaction(
            charge_point_id, transaction_id, meter_stop_wh, ts, reason
        )
        if changed and record is not None:
            await self._publish(TransactionStopped(charge_point_id, record.id, meter_stop_wh, reason, ts))

    async def meter_reading(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        ts: datetime,
        reading: Reading,
    ) -> None:
        if transaction_id is not None and reading.energy_wh is not None:
            await self._repo.record_meter(transaction_id, reading.energy_wh)
        await self._publish(
            MeterSample(
                charge_point_id,
                connector_id,
                transaction_id,
                ts,
                energy_wh=reading.energy_wh,
                power_w=reading.power_w,
                current_a=reading.current_a,
            )
        )


__all__ = ["CentralSystem", "ChargerState"]
