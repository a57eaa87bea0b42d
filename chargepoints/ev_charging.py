"""Part of CentralSystem: ISO 15118 smart charging (OCPP 2.0.1 K15-K17, 2.1's V2X needs) as the central system
lives it.

- NotifyEVChargingNeeds: the needs are checked (chargepoints.iso15118) and kept for the EVSE's running
  transaction; through the DepartureTargets port they are stored with its session (shown as its `ev_needs`),
  their range becomes the session's own floor and ceiling in the scheduler and the planner, and, with an
  energy and a departure time, they become the session's departure target (stored, adopted by the
  scheduler). The answer is `Accepted` when the central system sends the TxProfile itself once the answer is
  out (with the limit last sent for the transaction, or, for a charger no scheduler manages, its unmanaged
  or safe limit), `Processing` when the scheduler's first limit for the session is still to come (it goes
  out as that profile).
- Every limit for a transaction with needs is held within the EV's range (`ev_limit`), so the scheduler's
  limits, and each change of them (K16 renegotiation: the station renegotiates with the EV on a new
  TxProfile), reach the EV within what it said it takes.
- NotifyEVChargingSchedule: checked against the TxProfile limit last sent for that EVSE's transaction (from
  the moment it is sent, since a station may report the EV's schedule before we have read its answer; one
  the station refuses gives way to the one before): `Accepted` within it, `Rejected` with the reason otherwise.

What each EVSE was told lives in memory, per (charger, EVSE), and goes when its transaction ends.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from chargepoints.iso15118 import ChargingNeeds, NeedsRefused, SentLimit, check_schedule, ev_limit, parse_needs
from chargepoints.ports import DepartureTargets, TransactionRecord
from chargepoints.profiles import Unit
from chargepoints.state import ChargerState

log = logging.getLogger("chargepoints.central")

Key = tuple[str, int]  # (charge point id, EVSE id)


def _refusal(reason_code: str, why: str) -> dict[str, Any]:
    return {"status": "Rejected", "statusInfo": {"reasonCode": reason_code, "additionalInfo": why[:512]}}


class EVCharging:
    """Part of CentralSystem: the EVs' ISO 15118 needs, the limits sent for them, their schedules checked."""

    departure_targets: DepartureTargets | None
    _running: dict[Key, int]  # the transaction running on each EVSE (ours, by id)
    _needs: dict[Key, tuple[int, ChargingNeeds]]  # per EVSE: (transaction id, the EV's needs)
    _limits: dict[Key, tuple[int, float, int | None]]  # per EVSE: (transaction id, limit A, phases) last sent
    _accepted: dict[Key, SentLimit]  # per EVSE: the TxProfile limit the station last accepted
    safe_limit_a: float | None
    unmanaged_limit_a: float | None
    _managed: Callable[[str], bool]
    now: Callable[[], datetime]

    # CentralSystem's
    state: Callable[[str], ChargerState]

    # (annotations only: a stub method here would shadow the real one wherever this part comes first)
    record: Callable[[str, str, dict[str, Any]], Awaitable[None]]
    get_transaction: Callable[[int], Awaitable[TransactionRecord | None]]
    last_register: Callable[[TransactionRecord], float]
    set_current_limit: Callable[..., Awaitable[str]]

    def _init_ev_charging(self, departure_targets: DepartureTargets | None) -> None:
        self.departure_targets = departure_targets
        self._running, self._needs, self._limits, self._accepted = {}, {}, {}, {}

    # -- transactions: which one runs on each EVSE --------------------------------------------------------
    def _running_on(self, record: TransactionRecord) -> None:
        if record.active and record.ocpp_transaction_id is not None:
            self._running[(record.charge_point_id, record.connector_id)] = record.id

    def _ended(self, record: TransactionRecord) -> None:
        key = (record.charge_point_id, record.connector_id)
        if self._running.get(key) == record.id:
            del self._running[key]
        for kept in (self._needs, self._limits):
            if key in kept and kept[key][0] == record.id:
                del kept[key]
        if key in self._accepted and self._accepted[key].transaction_id == record.id:
            del self._accepted[key]

    # -- limits: held within the EV's range, remembered --------------------------------------------------
    def ev_held(
        self,
        charge_point_id: str,
        evse_id: int,
        transaction_id: int | None,
        unit: Unit,
        limit: float,
        phases: int | None,
    ) -> float:
        """A limit for a transaction whose EV told its needs, held within them (others pass unchanged)."""
        entry = self._needs.get((charge_point_id, evse_id))
        if entry is None or transaction_id is None or entry[0] != transaction_id:
            return limit
        return ev_limit(entry[1], unit, limit, phases or entry[1].phases or self.state(charge_point_id).phases)

    def limit_sending(
        self,
        charge_point_id: str,
        evse_id: int,
        transaction_id: int | None,
        limit_a: float,
        phases: int | None,
        sent: tuple[Unit, float],
    ) -> Callable[[], None]:
        """A limit goes out for a transaction: kept to answer its EV's needs and to check its EV's schedule.

        Taken as accepted from the moment it is sent (a station may report its EV's schedule for it before
        our side has read its answer); the returned undo restores the one before when it is not accepted.
        """
        if transaction_id is None:
            return lambda: None
        key = (charge_point_id, evse_id)
        self._limits[key] = (transaction_id, limit_a, phases)
        needs = self._needs.get(key)
        wired = phases or (needs[1].phases if needs else None) or self.state(charge_point_id).phases
        before = self._accepted.get(key)
        self._accepted[key] = SentLimit(transaction_id, sent[0], round(sent[1], 1), wired)

        def undo() -> None:
            if before is None:
                self._accepted.pop(key, None)
            else:
                self._accepted[key] = before

        return undo

    # -- NotifyEVChargingNeeds ------------------------------------------------------------------------------
    async def ev_charging_needs(
        self, charge_point_id: str, payload: dict[str, Any]
    ) -> tuple[dict[str, Any], Callable[[], Awaitable[None]] | None]:
        answer, work = await self._answer_needs(charge_point_id, payload)
        await self.record(charge_point_id, "NotifyEVChargingNeeds", {"request": payload, "answer": answer})
        return answer, work

    async def _answer_needs(
        self, charge_point_id: str, payload: dict[str, Any]
    ) -> tuple[dict[str, Any], Callable[[], Awaitable[None]] | None]:
        try:
            needs = parse_needs(payload, self.now())
        except NeedsRefused as refused:
            return _refusal(refused.reason_code, str(refused)), None
        key = (charge_point_id, needs.evse_id)
        transaction_id = self._running.get(key)
        record = await self.get_transaction(transaction_id) if transaction_id is not None else None
        if record is None or not record.active:
            return _refusal("TxNotFound", f"no transaction runs on EVSE {needs.evse_id}"), None
        self._needs[key] = (record.id, needs)
        if self.departure_targets is not None:
            # the EV's range first (the session's own floor and ceiling), then the target it charges to
            delivered = max(0.0, self.last_register(record) - record.meter_start_wh)
            wanted = None if needs.energy_wh is None else delivered + needs.energy_wh
            await self.departure_targets.set_ev_needs(record, needs, wanted)
            if wanted is not None and needs.departure_ts is not None:
                await self.departure_targets.set_departure(record, wanted, needs.departure_ts)
        last = self._limits.get(key)
        if last is not None and last[0] == record.id:
            limit_a, phases = last[1], last[2]
        elif self._managed(charge_point_id):
            return {"status": "Processing"}, None  # the scheduler's first limit for the session is the profile
        else:
            phases = None
            configured = [a for a in (self.safe_limit_a, self.unmanaged_limit_a) if a is not None]
            wired = needs.phases or self.state(charge_point_id).phases
            limit_a = min(configured) if configured else needs.ceiling_a(wired)

        async def send_profile() -> None:
            status = await self.set_current_limit(charge_point_id, needs.evse_id, limit_a, record.id, phases)
            if status != "Accepted":
                log.warning("%s: the ISO 15118 TxProfile for EVSE %d was answered %s", charge_point_id, key[1], status)

        return {"status": "Accepted"}, send_profile

    # -- NotifyEVChargingSchedule ---------------------------------------------------------------------------
    async def ev_charging_schedule(self, charge_point_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        key = (charge_point_id, payload["evseId"])
        sent = self._accepted.get(key)
        if sent is None or self._running.get(key) != sent.transaction_id:
            answer = _refusal("NoProfile", f"no charging profile was accepted for EVSE {key[1]}'s transaction")
        else:
            problem = check_schedule(payload["chargingSchedule"], sent)
            answer = {"status": "Accepted"} if problem is None else _refusal("InvalidSchedule", problem)
        await self.record(charge_point_id, "NotifyEVChargingSchedule", {"request": payload, "answer": answer})
        return answer
