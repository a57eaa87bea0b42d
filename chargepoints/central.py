"""The central system: registry of live sessions, charger state, transactions.

One CentralSystem per process. Sessions (one per WebSocket) call into it; the
gateway serves connections through `serve()` and sends commands through
`call()` and `set_limit()`.

Every transaction belongs to the charger that started it. `meter_reading()` and
`stop_transaction()`, the two ways a message changes a transaction, check that
the sender owns it: a message naming another charger's transaction, or one that
does not exist, changes nothing of it, is answered as OCPP wants (the charger
must not retry forever), kept as a "ForeignTransaction" charger event, logged
once per connection and counted (the call's outcome in the metrics).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from ocpp.exceptions import PropertyConstraintViolationError

from chargepoints.booting import Booting
from chargepoints.certificates import Certificates
from chargepoints.costs import CostDisplay, CostQuotes
from chargepoints.credentials import password_problem
from chargepoints.device_model import stored_limit
from chargepoints.dynamic_schedules import DynamicSchedules
from chargepoints.errors import NotAccepted, NotConnected, UnknownChargePoint
from chargepoints.ev_charging import EVCharging
from chargepoints.events import (
    ChargerConnected,
    ChargerDisconnected,
    ConnectorStatusChanged,
    MeterSample,
    TransactionStarted,
    TransactionStopped,
)
from chargepoints.file_transfers import FileStatuses
from chargepoints.meter import Reading
from chargepoints.ownership import TransactionOwnership
from chargepoints.ports import (
    CertificateAuthority,
    ChargePointRepository,
    ChargerRecord,
    Clock,
    Connection,
    ContractCertificates,
    DepartureTargets,
    EVCertificateService,
    EventLog,
    FileTimeline,
    IdTagStatus,
    Observe,
    Passwords,
    Publish,
    Reservations,
    SessionPriorities,
    TransactionRecord,
)
from chargepoints.registration import ACCEPTED, refusal
from chargepoints.reservation_rules import ReservationRules
from chargepoints.session import OcppSession
from chargepoints.state import ChargerState
from chargepoints.tariffs import StationTariffs, TariffSource
from chargepoints.transaction_status import TransactionStatus
from chargepoints.v16 import Session16
from chargepoints.v21 import Session21
from chargepoints.v201 import Session201
from chargepoints.vendors import VendorDataTransfer
from chargepoints.write_behind import WriteBehind

log = logging.getLogger(__name__)

UnknownPolicy = Literal["accept", "pending", "reject"]
SESSION_CLASSES: dict[str, type[OcppSession]] = {"1.6": Session16, "2.0.1": Session201, "2.1": Session21}
SUPPORTED_VERSIONS = tuple(SESSION_CLASSES)


class CentralSystem(
    TransactionOwnership,
    WriteBehind,
    ReservationRules,
    Booting,
    FileStatuses,
    TransactionStatus,
    EVCharging,
    Certificates,
    VendorDataTransfer,
):
    def __init__(
        self,
        repository: ChargePointRepository,
        publish: Publish,
        clock: Clock,
        *,
        unknown_chargers: UnknownPolicy = "accept",
        heartbeat_interval_s: int = 300,
        registration_retry_s: int = 60,
        response_timeout_s: float = 30.0,
        safe_limit_a: float | None = None,
        unmanaged_limit_a: float | None = None,
        managed: Callable[[str], bool] | None = None,
        lenient_by_default: bool = False,
        event_log: EventLog | None = None,
        observe: Observe | None = None,
        certificate_authority: CertificateAuthority | None = None,
        max_frames_per_s: float = 0.0,
        frame_burst: int = 100,
        register_log: Callable[[int, float], None] | None = None,
        passwords: Passwords | None = None,
        reservations: Reservations | None = None,
        cost_quotes: CostQuotes | None = None,
        running_cost_interval_s: float = 60.0,
        files: FileTimeline | None = None,
        departure_targets: DepartureTargets | None = None,
        contract_certificates: ContractCertificates | None = None,
        tariff_source: TariffSource | None = None,
        transaction_status_after_s: float = 30.0,
        dynamic_profiles: bool = False,
        dynamic_update_interval_s: int = 0,
    ) -> None:
        self._repo = repository
        self.transaction_status_after_s = transaction_status_after_s  # 0: never asked on a reconnect
        # told each register as it is written behind, so a process killed before the flush loses none
        self._register_log = register_log
        self._publish = publish
        self.now = clock
        self.unknown_chargers = unknown_chargers
        self.heartbeat_interval_s = heartbeat_interval_s
        self.registration_retry_s = registration_retry_s  # a Pending or Rejected boot's interval: when to retry
        self.response_timeout_s = response_timeout_s
        self.safe_limit_a = safe_limit_a
        self.unmanaged_limit_a = unmanaged_limit_a  # for a charger no scheduler controls (no site)
        self._managed = managed or (lambda charge_point_id: self.state(charge_point_id).site_id is not None)
        self.lenient_by_default = lenient_by_default
        self._event_log = event_log
        self.observe: Observe = observe or (lambda direction, action, outcome, seconds: None)
        self._ca = certificate_authority
        self._passwords = passwords
        self._reservations = reservations
        self._files = files  # the firmware, diagnostics and log timelines
        self._contracts = contract_certificates  # ISO 15118 Plug & Charge: OCSP through the configured responder
        self.ev_certificates: EVCertificateService | None = None  # Get15118EVCertificate: the relay, if any
        self.session_priorities: SessionPriorities | None = None  # OCPP 2.1 priority charging: the sessions' modes
        self._vendors = {}
        self._sessions: dict[str, OcppSession] = {}
        self._meter_backlog: dict[int, float] = {}
        self._records: dict[str, ChargerRecord] = {}
        self._records_complete = False  # True while _records holds every stored charger
        self._dirty_chargers: set[str] = set()
        self.flush_failures = 0
        self.max_frames_per_s = max_frames_per_s  # per connection; 0 = no limit
        self.frame_burst = frame_burst
        self.throttled_frames = 0
        # (action, "foreign" | "unknown"): messages naming a transaction that is not the sender's
        self.foreign_transactions: Counter[tuple[str, str]] = Counter()
        self._owners: dict[int, str] = {}  # transaction id -> the charger that owns it
        self._state: dict[str, ChargerState] = {}
        # the running cost and the total told to the stations (none without a pricing); the clock read late
        self.costs = CostDisplay(
            cost_quotes, call=self.call, version_of=self._connected_version, get_transaction=self.get_transaction,
            last_register=self.last_register, clock=lambda: self.now(),  # noqa: PLW0108
            interval_s=running_cost_interval_s,
        )  # fmt: skip
        self.station_tariffs = StationTariffs(tariff_source, record=self.record)  # OCPP 2.1 tariffs, costs
        self.dynamic_schedules = DynamicSchedules(  # OCPP 2.1: TxProfiles followed by UpdateDynamicSchedule
            enabled=dynamic_profiles, update_interval_s=dynamic_update_interval_s, clock=clock, record=self.record
        )
        self._init_ev_charging(departure_targets)  # ISO 15118: the EVs' needs and the limits sent for them

    # -- registry -------------------------------------------------------------
    def state(self, charge_point_id: str) -> ChargerState:
        state = self._state.get(charge_point_id)
        if state is None:
            state = self._state[charge_point_id] = ChargerState(id=charge_point_id)
        return state

    def states(self) -> list[ChargerState]:
        return sorted(self._state.values(), key=lambda s: s.id)

    def knows(self, charge_point_id: str) -> bool:
        return charge_point_id in self._state

    def is_connected(self, charge_point_id: str) -> bool:
        return charge_point_id in self._sessions

    def touch(self, charge_point_id: str) -> None:
        self.state(charge_point_id).last_seen = self.now()

    async def register(
        self,
        record: ChargerRecord,
        *,
        lenient: bool | None = None,
        phases: int | None = None,
        connectors: int | None = None,
    ) -> None:
        """Make a charger known (from configuration or REST), or reload its changed record.

        `connectors`: how many connectors (1.6) or EVSEs (2.0.1) it has, if configured; ids beyond are refused.
        """
        await self.flush()
        existing = await self._repo.get_charger(record.id)
        if existing is None:
            await self._repo.save_charger(record)
            existing = record
        elif record.site_id and existing.site_id != record.site_id:
            existing.site_id = record.site_id
            await self._repo.save_charger(existing)
        self._records[existing.id] = existing
        state = self.state(existing.id)
        was = state.registration
        state.registration = existing.registration
        if was != ACCEPTED and existing.registration == ACCEPTED:
            self._call_back_in(existing.id)
        state.site_id = existing.site_id
        state.ocpp_version = existing.ocpp_version
        state.last_seen = existing.last_seen
        if lenient is not None:
            state.lenient = lenient
        if phases is not None:
            state.phases = phases
        if connectors is not None:
            state.connector_count = connectors

    def message_limits(self, charge_point_id: str) -> dict[tuple[str, str], int]:
        """A 2.0.1 station's ItemsPerMessage/BytesPerMessage, learned from NotifyReport and GetVariables."""
        return self.state(charge_point_id).message_limits

    async def stored_message_limits(self, charge_point_id: str) -> dict[tuple[str, str], int]:
        """The limits, with those of the stored device model read in once (they outlive a restart)."""
        state = self.state(charge_point_id)
        if not state.limits_read:
            state.limits_read = True
            for item in await self._repo.list_variables(charge_point_id):
                found = stored_limit(item["component"], item["variable"], item["attribute"], item["value"])
                if found is not None:
                    state.message_limits.setdefault((found[0], found[1]), found[2])
        return state.message_limits

    def connector_count(self, charge_point_id: str) -> int | None:
        """How many connectors (1.6) or EVSEs (2.0.1) the charger has, if known."""
        state = self._state.get(charge_point_id)
        return state.connector_count if state is not None else None

    # -- connections ----------------------------------------------------------
    async def serve(self, charge_point_id: str, ocpp_version: str, connection: Connection) -> None:
        """Serve one OCPP connection until it closes.

        A new connection for the same id replaces the old session (chargers
        probe with one protocol and reconnect with another); nothing is cached
        per charger id across connections but the state the charger reported.
        """
        if ocpp_version not in SUPPORTED_VERSIONS:
            raise ValueError(f"unsupported OCPP version {ocpp_version}")
        state = self.state(charge_point_id)
        lenient = self.lenient_by_default if state.lenient is None else state.lenient
        session = SESSION_CLASSES[ocpp_version](charge_point_id, connection, self, lenient=lenient)
        previous = self._sessions.get(charge_point_id)
        self._sessions[charge_point_id] = session
        if previous is not None:
            log.info("%s reconnected: closing its previous connection", charge_point_id)
            await previous.close()
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

    def _connected_version(self, charge_point_id: str) -> str | None:
        session = self._sessions.get(charge_point_id)
        return session.version if session is not None else None

    def _session(self, charge_point_id: str) -> OcppSession:
        session = self._sessions.get(charge_point_id)
        if session is None:
            if charge_point_id in self._state:
                raise NotConnected(charge_point_id)
            raise UnknownChargePoint(charge_point_id)
        return session

    async def call(self, charge_point_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send any CSMS-initiated action; answers the charger's response payload.

        What the answer teaches (2.0.1 variables, 1.6 NumberOfConnectors) the version session learns.
        """
        session = self._session(charge_point_id)
        why = refusal(self.registration_of(charge_point_id), action, payload)
        if why is not None:
            raise NotAccepted(why)
        problem = password_problem(action, payload)
        if problem is not None:
            raise PropertyConstraintViolationError(details={"cause": problem})
        return await session.call_learning(action, payload)

    async def password_accepted(self, charge_point_id: str, password: str) -> None:
        """A charger took the new Basic-auth password we sent: kept beside the old until it connects with it."""
        if self._passwords is not None:
            await self._passwords.accepted(charge_point_id, password)
        await self.record(charge_point_id, "PasswordAccepted", {})  # never the password itself

    def learn_connector_count(self, charge_point_id: str, count: int) -> None:
        """How many connectors (1.6) or EVSEs (2.0.1) the charger said it has."""
        if 0 < count < 2**31:
            self.state(charge_point_id).connector_count = count

    async def get_transaction(self, transaction_id: int) -> TransactionRecord | None:
        return await self._repo.get_transaction(transaction_id)

    async def set_current_limit(
        self,
        charge_point_id: str,
        connector_id: int,
        limit_a: float,
        transaction_id: int | None = None,
        phases: int | None = None,
    ) -> str:
        """Cap one connector's (1.6) or EVSE's (2.0.1) current; returns the charger's status answer.

        Bound to the running transaction (TxProfile) or, without one, the
        connector's default (TxDefaultProfile); in amperes, or in watts for a
        charger that only accepts Power.
        """
        session = self._session(charge_point_id)
        why = refusal(self.registration_of(charge_point_id), "SetChargingProfile", {})
        if why is not None:
            raise NotAccepted(why)
        unit, limit = self.state(charge_point_id).in_allowed_unit(limit_a, phases)
        limit = self.ev_held(charge_point_id, connector_id, transaction_id, unit, limit, phases)  # ISO 15118 EVs
        undo = self.limit_sending(charge_point_id, connector_id, transaction_id, limit_a, phases, (unit, limit))
        try:
            status = await session.send_limit(connector_id, limit, transaction_id, phases, unit)
        except BaseException:
            undo()
            raise
        if status != "Accepted":
            undo()
        return status

    # -- called by sessions -----------------------------------------------------
    def count_quirk(self, charge_point_id: str, action: str, fixes: list[str]) -> None:
        state = self.state(charge_point_id)
        state.quirks[action] += 1
        if state.quirks[action] == 1:
            log.warning("%s: repaired %s from a lenient charger: %s", charge_point_id, action, "; ".join(fixes))

    async def connector_status(
        self, charge_point_id: str, connector_id: int, status: str, error_code: str, ts: datetime
    ) -> None:
        self.state(charge_point_id).connectors[connector_id] = status
        await self._publish(ConnectorStatusChanged(charge_point_id, connector_id, status, error_code, ts))

    async def id_tag(self, id_tag: str) -> IdTagStatus:
        return await self._repo.id_tag(id_tag, self.now())

    async def start_transaction(
        self,
        charge_point_id: str,
        connector_id: int,
        id_tag: str,
        meter_start_wh: float,
        ts: datetime,
        reservation_id: int | None = None,
    ) -> tuple[int, IdTagStatus]:
        info = await self.id_tag(id_tag)
        record, created = await self._repo.start_transaction(charge_point_id, connector_id, id_tag, meter_start_wh, ts)
        self._remember_owner(record)
        if created:
            await self._publish(
                TransactionStarted(charge_point_id, connector_id, record.id, id_tag, meter_start_wh, ts)
            )
        info = await self.reservation_check(charge_point_id, connector_id, id_tag, reservation_id, record.id, info)
        return record.id, info

    async def find_transaction_201(self, charge_point_id: str, ocpp_transaction_id: str) -> TransactionRecord | None:
        """A 2.0.1 transaction by the station's own id: looked up among that station's only."""
        record = await self._repo.find_transaction_201(charge_point_id, ocpp_transaction_id)
        if record is not None:
            self._remember_owner(record)
            self._running_on(record)
        return record

    async def start_transaction_201(
        self,
        charge_point_id: str,
        evse_id: int,
        ocpp_transaction_id: str,
        id_tag: str,
        meter_start_wh: float,
        ts: datetime,
    ) -> TransactionRecord:
        record, created = await self._repo.start_transaction_201(
            charge_point_id, evse_id, ocpp_transaction_id, id_tag, meter_start_wh, ts
        )
        self._remember_owner(record)
        self._running_on(record)
        if created:
            await self._publish(TransactionStarted(charge_point_id, evse_id, record.id, id_tag, meter_start_wh, ts))
        return record

    async def transaction_seq_no(self, transaction_id: int, seq_no: int) -> None:
        await self._repo.set_seq_no(transaction_id, seq_no)

    def last_register(self, record: TransactionRecord) -> float:
        """The newest energy register known for a transaction (Wh)."""
        newer = self._meter_backlog.get(record.id)
        if newer is not None:
            return newer
        return record.meter_last_wh if record.meter_last_wh is not None else record.meter_start_wh

    async def store_variables(
        self, charge_point_id: str, variables: list[tuple[str, str, str, str | None, str | None]]
    ) -> None:
        if variables:
            await self._repo.save_variables(charge_point_id, variables)

    async def stop_transaction(
        self,
        charge_point_id: str,
        transaction_id: int,
        meter_stop_wh: float,
        ts: datetime,
        reason: str,
        *,
        action: str = "StopTransaction",
    ) -> None:
        """Close a transaction of this charger. Another charger's, or none at all, is left as it is (the
        repository keeps such a stop aside, unmatched); the charger is answered as usual so it stops retrying."""
        await self.flush_meters()
        owned = await self._owned(charge_point_id, transaction_id, action)
        record, changed = await self._repo.stop_transaction(charge_point_id, transaction_id, meter_stop_wh, ts, reason)
        if owned and changed and record is not None:
            self._owners.pop(record.id, None)
            self._ended(record)
            self.dynamic_schedules.ended(charge_point_id, record.id)
            await self._publish(TransactionStopped(charge_point_id, record.id, meter_stop_wh, reason, ts))

    async def meter_reading(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        ts: datetime,
        reading: Reading,
        *,
        replay: bool = False,
        action: str = "MeterValues",
    ) -> None:
        """A normalised sample. Connector 0 is the charger's total: it is
        published but never attributed to a transaction's energy. A sample naming a
        transaction that is not this charger's is published as the connector's, bound to none."""
        if transaction_id is not None and not await self._owned(charge_point_id, transaction_id, action):
            transaction_id = None
        if transaction_id is not None and reading.energy_wh is not None and (connector_id != 0 or replay):
            # Write-behind: the latest register per transaction is stored by
            # flush_meters() about once a second, not on every frame.
            self._meter_backlog[transaction_id] = reading.energy_wh
            if self._register_log is not None:
                self._register_log(transaction_id, reading.energy_wh)
        if replay:
            return
        await self._publish(
            MeterSample(
                charge_point_id,
                connector_id,
                transaction_id if connector_id != 0 else None,
                ts,
                energy_wh=reading.energy_wh,
                power_w=reading.power_w,
                current_a=reading.current_a,
            )
        )

    async def priority_charging(self, charge_point_id: str, ocpp_transaction_id: str, active: bool) -> None:
        """OCPP 2.1 NotifyPriorityCharging: the station's running transaction in priority charging (or out of it)
        becomes the session's mode for the scheduler (stored); kept as a charger event either way."""
        record = await self.find_transaction_201(charge_point_id, ocpp_transaction_id)
        priorities = self.session_priorities
        marked = False
        if record is not None and record.active and priorities is not None:
            await priorities.set_priority_charging(record, active)
            marked = True
        event = {"transaction_id": ocpp_transaction_id, "activated": active, "session_marked": marked}
        await self.record(charge_point_id, "NotifyPriorityCharging", event)

    async def record(self, charge_point_id: str, kind: str, payload: dict[str, Any]) -> None:
        """Keep a charger-reported event (firmware, diagnostics, security, data transfer)."""
        if self._event_log is not None:
            await self._event_log.record_event(charge_point_id, self.now(), kind, payload)
