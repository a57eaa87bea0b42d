"""Ports the central system needs from the outside world (implemented in gateway)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from chargepoints.events import ChargePointEvent
from chargepoints.meter import Reading
from chargepoints.reservations import Reservation

if TYPE_CHECKING:
    from chargepoints.costs import CostDisplay
    from chargepoints.dynamic_schedules import DynamicSchedules
    from chargepoints.iso15118 import ChargingNeeds
    from chargepoints.tariffs import StationTariffs


class Connection(Protocol):
    """One open OCPP-J WebSocket: text frames in and out."""

    async def recv(self) -> str:
        """Next text frame; raises ConnectionClosed-like errors when the socket ends."""
        ...

    async def send(self, message: str) -> None: ...

    async def close(self) -> None:
        """Close the socket; a pending recv() then raises ConnectionEnded."""
        ...


@dataclass(frozen=True, slots=True)
class IdTagStatus:
    """What the central system knows of an id tag (1.6 idTag, 2.0.1 idToken), in neither version's words:
    the version sessions turn it into idTagInfo or idTokenInfo."""

    status: str  # Accepted | Blocked | Expired | Invalid (not allowed, or not known)
    known: bool = True  # False: no such tag (2.0.1 says Unknown)
    expiry: datetime | None = None
    group_id: str | None = None  # 1.6 parentIdTag, 2.0.1 groupIdToken


@dataclass(slots=True)
class ChargerRecord:
    id: str
    registration: str = "Accepted"  # Accepted | Pending | Rejected
    ocpp_version: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    site_id: str | None = None
    last_seen: datetime | None = None


@dataclass(slots=True)
class TransactionRecord:
    id: int
    charge_point_id: str
    connector_id: int
    id_tag: str
    meter_start_wh: float
    start_ts: datetime
    meter_last_wh: float | None = None
    meter_stop_wh: float | None = None
    stop_ts: datetime | None = None
    stop_reason: str | None = None
    ocpp_transaction_id: str | None = None  # OCPP 2.0.1: the charger's own id
    last_seq_no: int | None = None
    green_energy_wh: float | None = None  # set by the green ledger when the session ends
    mode: str = "green"  # how the scheduler charges it, with its priority and departure target
    priority: int = 0
    target_wh: float | None = None
    departure_ts: datetime | None = None
    account_id: str | None = None  # the charging account its id tag belonged to when it started
    tariff_id: str | None = None  # the tariff it is priced at, chosen when it started
    # 2.0.1 E14: the station said it ended, its queued messages still to come (GetTransactionStatus), since
    awaiting_since: datetime | None = None
    ev_needs: dict[str, Any] | None = None  # ISO 15118: its EV's charging needs (ChargingNeeds.view()), the newest
    priority_charging: bool = False  # OCPP 2.1 priority charging on: the scheduler charges it in mode priority

    @property
    def api_id(self) -> int | str:
        """The id operators see: ours for 1.6, the charger's for 2.0.1."""
        return self.ocpp_transaction_id if self.ocpp_transaction_id is not None else self.id

    @property
    def active(self) -> bool:
        return self.stop_ts is None

    @property
    def energy_wh(self) -> float:
        end = self.meter_stop_wh if self.meter_stop_wh is not None else self.meter_last_wh
        if end is None:
            return 0.0
        return max(0.0, end - self.meter_start_wh)


class ChargePointRepository(Protocol):
    async def get_charger(self, charge_point_id: str) -> ChargerRecord | None: ...

    async def save_charger(self, record: ChargerRecord) -> None: ...

    async def save_chargers(self, records: list[ChargerRecord]) -> None:
        """Store several records in one write."""
        ...

    async def start_transaction(
        self,
        charge_point_id: str,
        connector_id: int,
        id_tag: str,
        meter_start_wh: float,
        ts: datetime,
    ) -> tuple[TransactionRecord, bool]:
        """Store a new transaction, or return the identical one stored before.

        The second element is True when the transaction was created now.
        """
        ...

    async def stop_transaction(
        self,
        charge_point_id: str,
        transaction_id: int,
        meter_stop_wh: float,
        ts: datetime,
        reason: str,
    ) -> tuple[TransactionRecord | None, bool]:
        """Close a transaction (recording unknown ids too); True when it changed now."""
        ...

    async def start_transaction_201(
        self,
        charge_point_id: str,
        evse_id: int,
        ocpp_transaction_id: str,
        id_tag: str,
        meter_start_wh: float,
        ts: datetime,
    ) -> tuple[TransactionRecord, bool]:
        """Store a 2.0.1 transaction once per (charger, transaction id); True when created now."""
        ...

    async def find_transaction_201(
        self, charge_point_id: str, ocpp_transaction_id: str
    ) -> TransactionRecord | None: ...

    async def set_seq_no(self, transaction_id: int, seq_no: int) -> None: ...

    async def set_awaiting_messages(self, transaction_id: int, since: datetime | None) -> None:
        """2.0.1 E14: since when the transaction's station said it ended with its messages still queued."""
        ...

    async def open_transactions(self, charge_point_id: str) -> list[TransactionRecord]:
        """The charger's transactions not yet stopped."""
        ...

    async def save_variables(
        self, charge_point_id: str, variables: list[tuple[str, str, str, str | None, str | None]]
    ) -> None:
        """Store device-model variables: (component, variable, attribute type, value, mutability)."""
        ...

    async def list_variables(self, charge_point_id: str) -> list[dict[str, Any]]:
        """The stored device model: component, variable (with its instance: Name[Instance]), attribute, value."""
        ...

    async def record_meters(self, registers: dict[int, float]) -> None:
        """Store the latest energy register (Wh) of running transactions, in one write."""
        ...

    async def get_transaction(self, transaction_id: int) -> TransactionRecord | None: ...

    async def id_tag(self, id_tag: str, now: datetime) -> IdTagStatus:
        """OCPP 1.6 IdTagInfo: status (Accepted, Blocked, Expired, Invalid), expiryDate?, parentIdTag?"""
        ...


Publish = Callable[[ChargePointEvent], Awaitable[None]]
# A vendor's DataTransfer handler: (charge point id, messageId or None, data or None) -> (status, data or None);
# status Accepted, Rejected or UnknownMessageId (1.6 data is a string; 2.0.1 data any JSON).
DataTransferHandler = Callable[[str, str | None, Any], Awaitable[tuple[str, Any]]]
Clock = Callable[[], datetime]


class CertificateAuthority(Protocol):
    """Signs a charger's CSR (security extension SignCertificate)."""

    def sign_csr(self, charge_point_id: str, csr_pem: str) -> str:
        """The signed certificate chain in PEM; raises ValueError for a bad CSR."""
        ...


class Reservations(Protocol):
    """Stored reservations (chargepoints.reservations), as the central system needs them."""

    async def active(self, charge_point_id: str) -> list[Reservation]:
        """The charger's reservations stored as Active (some may be past their expiry)."""
        ...

    async def use(self, charge_point_id: str, reservation_id: int, transaction_id: int) -> bool:
        """Mark the charger's reservation used by a transaction; False when it has no such reservation."""
        ...

    async def set_status(self, charge_point_id: str, reservation_id: int, status: str) -> None: ...


class Passwords(Protocol):
    """Where a charger's new Basic-auth password goes once it has accepted it (security profiles 1-2)."""

    async def accepted(self, charge_point_id: str, password: str) -> None: ...


class FileTimeline(Protocol):
    """Where a charger's firmware, diagnostics and log status notifications go (chargepoints.file_transfers)."""

    async def file_status(
        self, charge_point_id: str, kind: str, action: str, status: str, request_id: int | None, ts: datetime
    ) -> None:
        """One step of the charger's timeline of `kind` (firmware, diagnostics); no request id: its latest."""
        ...


class DepartureTargets(Protocol):
    """Where an EV's ISO 15118 charging needs go: its session's departure target, for the scheduler."""

    async def set_departure(self, record: TransactionRecord, energy_wh: float, departure_ts: datetime) -> bool:
        """Deliver `energy_wh` in this session by `departure_ts`; False when no scheduler manages its charger."""
        ...

    async def set_ev_needs(self, record: TransactionRecord, needs: ChargingNeeds, energy_wh: float | None) -> None:
        """The EV's needs (its range, 2.1's V2X parameters) stored with the session, and its range, as the
        session's own floor and ceiling, and `energy_wh` (what it wants in this session) adopted by the scheduler."""
        ...


class SessionPriorities(Protocol):
    """Where a session's OCPP 2.1 priority charging goes: stored with it, and its mode for the scheduler."""

    async def set_priority_charging(self, record: TransactionRecord, active: bool) -> None:
        """Priority charging on (mode `priority`) or off (its mode before) for this running session."""
        ...


class EVCertificateService(Protocol):
    """ISO 15118 Plug & Charge: where an EV's contract certificate is asked for (Get15118EVCertificate)."""

    async def ev_certificate(self, charge_point_id: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """The service's {status, exiResponse} for the station's request; None when it gave none usable."""
        ...


class ContractCertificates(Protocol):
    """ISO 15118 Plug & Charge: the status of the contract certificates an Authorize names by hash data."""

    async def status(self, hash_data: list[dict[str, Any]]) -> str:
        """An AuthorizeCertificateStatus (Accepted, CertificateRevoked, CertChainError, ...) for them all."""
        ...

    async def ocsp_result(self, item: dict[str, Any]) -> str | None:
        """GetCertificateStatus: the responder's DER answer for one certificate, base64; None when not had."""
        ...

    async def pem_status(self, pem: str) -> str:
        """An AuthorizeCertificateStatus for a PEM contract-certificate chain (Authorize's `certificate`)."""
        ...


class EventLog(Protocol):
    async def record_event(self, charge_point_id: str, ts: datetime, kind: str, payload: dict[str, object]) -> None: ...


# (direction "in"/"out", action, outcome "ok" or an error code, seconds): for metrics
Observe = Callable[[str, str, str, float], None]


class SessionHost(Protocol):
    """What a version session (chargepoints.v16, v201) needs from the central system that hosts it.

    Sessions hold this, not the CentralSystem, so the version modules and the central system do not import
    each other: the central system chooses a session class; the session calls back through this port.
    """

    response_timeout_s: float
    transaction_status_after_s: float  # 2.0.1: after connecting, when to ask of transactions it did not report
    max_frames_per_s: float
    frame_burst: int
    throttled_frames: int
    observe: Observe
    costs: CostDisplay  # the running cost and the total told to the stations
    station_tariffs: StationTariffs  # OCPP 2.1: default tariffs sent, the stations' own costs kept
    dynamic_schedules: DynamicSchedules  # OCPP 2.1: Dynamic TxProfiles, their updates and pulls

    def now(self) -> datetime: ...

    @property
    def can_sign(self) -> bool: ...

    def touch(self, charge_point_id: str) -> None: ...

    def count_quirk(self, charge_point_id: str, action: str, fixes: list[str]) -> None: ...

    def connector_count(self, charge_point_id: str) -> int | None: ...

    def message_limits(self, charge_point_id: str) -> dict[tuple[str, str], int]:
        """The station's ItemsPerMessage/BytesPerMessage limits as learned, by (variable, action); mutable."""
        ...

    async def stored_message_limits(self, charge_point_id: str) -> dict[tuple[str, str], int]:
        """message_limits(), read once from the stored device model after a restart."""
        ...

    async def password_accepted(self, charge_point_id: str, password: str) -> None:
        """The charger took a new Basic-auth password: keep it beside the current one until it connects with it."""
        ...

    async def data_transfer(
        self, charge_point_id: str, vendor_id: str, message_id: str | None, data: Any
    ) -> dict[str, Any]: ...

    def registration_of(self, charge_point_id: str) -> str:
        """Accepted, Pending or Rejected: as its record says, or as unknown chargers are answered."""
        ...

    def learn_connector_count(self, charge_point_id: str, count: int) -> None: ...

    async def boot(
        self,
        charge_point_id: str,
        ocpp_version: str,
        *,
        vendor: str,
        model: str,
        serial_number: str | None,
        firmware_version: str | None,
    ) -> tuple[str, int]: ...

    async def configure_after_boot(self, charge_point_id: str) -> None: ...

    async def connector_status(
        self, charge_point_id: str, connector_id: int, status: str, error_code: str, ts: datetime
    ) -> None: ...

    async def id_tag(self, id_tag: str) -> IdTagStatus: ...

    async def start_transaction(
        self,
        charge_point_id: str,
        connector_id: int,
        id_tag: str,
        meter_start_wh: float,
        ts: datetime,
        reservation_id: int | None = None,
    ) -> tuple[int, IdTagStatus]: ...

    async def reservation_check(
        self,
        charge_point_id: str,
        connector_id: int,
        id_tag: str,
        reservation_id: int | None,
        transaction_id: int,
        info: IdTagStatus,
    ) -> IdTagStatus: ...

    async def reservation_status(self, charge_point_id: str, reservation_id: int, status: str) -> None: ...

    async def find_transaction_201(
        self, charge_point_id: str, ocpp_transaction_id: str
    ) -> TransactionRecord | None: ...

    async def start_transaction_201(
        self,
        charge_point_id: str,
        evse_id: int,
        ocpp_transaction_id: str,
        id_tag: str,
        meter_start_wh: float,
        ts: datetime,
    ) -> TransactionRecord: ...

    async def get_transaction(self, transaction_id: int) -> TransactionRecord | None: ...

    async def transaction_seq_no(self, transaction_id: int, seq_no: int) -> None: ...

    def last_register(self, record: TransactionRecord) -> float: ...

    async def stop_transaction(
        self,
        charge_point_id: str,
        transaction_id: int,
        meter_stop_wh: float,
        ts: datetime,
        reason: str,
        *,
        action: str = "StopTransaction",
    ) -> None: ...

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
    ) -> None: ...

    async def store_variables(
        self, charge_point_id: str, variables: list[tuple[str, str, str, str | None, str | None]]
    ) -> None: ...

    async def record(self, charge_point_id: str, kind: str, payload: dict[str, Any]) -> None: ...

    async def file_status(
        self, charge_point_id: str, action: str, status: str, request_id: int | None, payload: dict[str, Any]
    ) -> None: ...

    async def transaction_status(
        self, charge_point_id: str, ocpp_transaction_id: str | None, ongoing: bool | None, queued: bool
    ) -> None: ...

    async def unreported_transactions(self, charge_point_id: str, heard: set[str]) -> list[str]: ...

    async def deliver_certificate(
        self, charge_point_id: str, csr_pem: str, certificate_type: str | None = None
    ) -> None: ...

    async def ev_charging_needs(
        self, charge_point_id: str, payload: dict[str, Any]
    ) -> tuple[dict[str, Any], Callable[[], Awaitable[None]] | None]:
        """An ISO 15118 NotifyEVChargingNeeds: the answer, and the work to run once it is sent (the profile)."""
        ...

    async def ocsp_result(self, charge_point_id: str, item: dict[str, Any]) -> str | None:
        """GetCertificateStatus relayed to the configured OCSP responder: its answer, base64; None: none had."""
        ...

    async def certificate_status(self, charge_point_id: str, hash_data: list[dict[str, Any]]) -> str | None:
        """Plug & Charge: the certificateStatus of an Authorize's hash data; None when none is configured."""
        ...

    async def certificate_pem_status(self, charge_point_id: str, pem: str) -> str | None:
        """Plug & Charge: the certificateStatus of an Authorize's PEM certificate; None when none is configured."""
        ...

    async def ev_certificate(self, charge_point_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Get15118EVCertificate relayed to the contract-certificate service: its {status, exiResponse}."""
        ...

    async def ev_charging_schedule(self, charge_point_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """An ISO 15118 NotifyEVChargingSchedule checked against the profile sent: the answer."""
        ...

    async def priority_charging(self, charge_point_id: str, ocpp_transaction_id: str, active: bool) -> None:
        """OCPP 2.1 NotifyPriorityCharging: the station started or stopped priority charging of a transaction."""
        ...
