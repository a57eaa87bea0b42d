"""Part of CentralSystem: a charger's boot answered from its cached record (a reconnect storm needs no
database read), its registration, the safe default profile installed after the boot."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from chargepoints.errors import CallFailed
from chargepoints.ports import ChargePointRepository, ChargerRecord
from chargepoints.registration import ACCEPTED
from chargepoints.session import OcppSession
from chargepoints.state import ChargerState

log = logging.getLogger("chargepoints.central")


class Booting:
    _repo: ChargePointRepository
    _records: dict[str, ChargerRecord]
    _records_complete: bool
    _dirty_chargers: set[str]
    _sessions: dict[str, OcppSession]
    _managed: Callable[[str], bool]
    unknown_chargers: Literal["accept", "pending", "reject"]
    heartbeat_interval_s: int
    registration_retry_s: int
    safe_limit_a: float | None
    unmanaged_limit_a: float | None
    now: Callable[[], datetime]

    state: Callable[[str], ChargerState]  # CentralSystem's

    _session: Callable[[str], OcppSession]  # CentralSystem's

    def registration_of(self, charge_point_id: str) -> str:
        """Accepted, Pending or Rejected: as the charger's record says; a charger with none as the policy says."""
        record = self._records.get(charge_point_id)
        if record is not None:
            return record.registration
        if self._records_complete:
            return {"accept": "Accepted", "pending": "Pending", "reject": "Rejected"}[self.unknown_chargers]
        return self.state(charge_point_id).registration

    def _call_back_in(self, charge_point_id: str) -> None:
        """A connected charger just Accepted by an operator: a TriggerMessage for a BootNotification, so that it
        hears so now rather than at the end of its retry interval (2.0.1 TC_B_31, 1.6 §4.2)."""
        session = self._sessions.get(charge_point_id)
        if session is None:
            return
        payload = {"requestedMessage": "BootNotification"}

        async def trigger() -> None:
            answer = await session.call_learning("TriggerMessage", payload)
            log.info("%s accepted: TriggerMessage BootNotification answered %s", charge_point_id, answer.get("status"))

        session.spawn(trigger)

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
        # A reconnect storm is thousands of boots at once: answer from the cached
        # record and store what the charger told us with the next flush.
        record = self._records.get(charge_point_id)
        if record is None and not self._records_complete:
            record = await self._repo.get_charger(charge_point_id)
        if record is None:
            registration = {"accept": "Accepted", "pending": "Pending", "reject": "Rejected"}[self.unknown_chargers]
            record = ChargerRecord(id=charge_point_id, registration=registration)
        self._records[charge_point_id] = record
        record.ocpp_version = ocpp_version
        record.vendor = vendor
        record.model = model
        record.serial_number = serial_number
        record.firmware_version = firmware_version
        record.last_seen = self.now()
        self._dirty_chargers.add(charge_point_id)
        state = self.state(charge_point_id)
        state.registration = record.registration
        state.site_id = record.site_id
        # Accepted: the heartbeat interval; Pending or Rejected: the least wait before the next BootNotification
        interval = self.heartbeat_interval_s if record.registration == ACCEPTED else self.registration_retry_s
        return record.registration, interval

    async def configure_after_boot(self, charge_point_id: str) -> None:
        """Learn the charger's allowed rate units, then install the safe default profile.

        Runs after the BootNotification reply, in the session's task group.
        """
        state = self.state(charge_point_id)
        session = self._session(charge_point_id)
        try:
            units = await session.rate_units()
        except CallFailed:
            units = None
        if units:
            names = {"A": "Current", "W": "Power", "Current": "Current", "Power": "Power"}
            parsed = tuple(names[u.strip()] for u in units.split(",") if u.strip() in names)
            state.rate_units = parsed or ("Current",)
        safe_a = self.safe_limit_a
        if self.unmanaged_limit_a is not None and not self._managed(charge_point_id):
            safe_a = self.unmanaged_limit_a if safe_a is None else min(safe_a, self.unmanaged_limit_a)
            log.info("%s belongs to no managed site: unmanaged, held at %.1f A", charge_point_id, safe_a)
        if safe_a is None:
            return
        unit, limit = state.in_allowed_unit(safe_a, None)
        answer = await session.call_learning("SetChargingProfile", session.safe_default_profile(limit, unit))
        if answer.get("status") != "Accepted":
            log.warning("%s refused the safe default profile: %s", charge_point_id, answer.get("status"))
