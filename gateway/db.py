"""SQL schema (SQLAlchemy 2). Migrations live in gateway/migrations (Alembic)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are stored as UTC and always come back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class ChargerRow(Base):
    __tablename__ = "chargers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    registration: Mapped[str] = mapped_column(String(16), default="Accepted")
    ocpp_version: Mapped[str | None] = mapped_column(String(8))
    vendor: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(64))
    serial_number: Mapped[str | None] = mapped_column(String(64))
    firmware_version: Mapped[str | None] = mapped_column(String(64))
    site_id: Mapped[str | None] = mapped_column(String(64))
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime())
    security_profile: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # a new password the charger accepted (ChangeConfiguration AuthorizationKey, SetVariables BasicAuthPassword):
    # taken as well as the old one until the charger connects with it, then the only one
    next_password_hash: Mapped[str | None] = mapped_column(String(200))
    # a higher security profile the charger was told to use (SecurityProfile, SetNetworkProfile): the current
    # one still opens until the charger connects with the new, which is then the only one
    next_security_profile: Mapped[int | None] = mapped_column(Integer)
    # what the scheduler needs of it (the site above places it)
    phases: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    min_current_a: Mapped[float] = mapped_column(Float, default=6.0, server_default="6")
    max_current_a: Mapped[float] = mapped_column(Float, default=16.0, server_default="16")
    phase_switching: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class SiteRow(Base):
    """A grid connection the scheduler keeps its chargers under (seeded from the configuration, changed over REST)."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    cooperative_id: Mapped[str | None] = mapped_column(String(64))
    grid_limit_a: Mapped[float] = mapped_column(Float)  # per phase
    base_load_a: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    voltage_v: Mapped[float] = mapped_column(Float, default=230.0, server_default="230")


class TransactionRow(Base):
    __tablename__ = "transactions"
    __table_args__ = (
        # A resent StartTransaction matches on these and is stored once.
        UniqueConstraint("charge_point_id", "connector_id", "start_ts", "meter_start_wh", name="uq_tx_start"),
        UniqueConstraint("charge_point_id", "ocpp_transaction_id", name="uq_tx_ocpp_id"),
        Index("ix_tx_active", "charge_point_id", "stop_ts"),
        {"sqlite_autoincrement": True},
    )

    # AUTOINCREMENT (SQLite) / a sequence (PostgreSQL): ids never repeat, even
    # after rows are deleted or the process restarts.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(String(64), ForeignKey("chargers.id"))
    connector_id: Mapped[int] = mapped_column(Integer)
    id_tag: Mapped[str] = mapped_column(String(64))
    meter_start_wh: Mapped[float] = mapped_column(Float)
    start_ts: Mapped[datetime] = mapped_column(UtcDateTime())
    meter_last_wh: Mapped[float | None] = mapped_column(Float)
    meter_stop_wh: Mapped[float | None] = mapped_column(Float)
    stop_ts: Mapped[datetime | None] = mapped_column(UtcDateTime())
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    # OCPP 2.0.1: the charger names its transactions; the newest seqNo applied
    ocpp_transaction_id: Mapped[str | None] = mapped_column(String(36))
    last_seq_no: Mapped[int | None] = mapped_column(Integer)
    green_energy_wh: Mapped[float | None] = mapped_column(Float)
    # how the scheduler charges it (PUT /api/sessions/{id}/mode), kept for restarts and failovers
    mode: Mapped[str] = mapped_column(String(16), default="green", server_default="green")
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    target_wh: Mapped[float | None] = mapped_column(Float)
    departure_ts: Mapped[datetime | None] = mapped_column(UtcDateTime())
    account_id: Mapped[str | None] = mapped_column(String(64))  # its id tag's account when it started
    tariff_id: Mapped[str | None] = mapped_column(String(36))  # the tariff it was priced at (set at its stop)
    # 2.0.1 E14: since when its station has said it ended with messages still queued (GetTransactionStatus)
    awaiting_messages_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # ISO 15118: the EV's charging needs as it last told them (chargepoints.iso15118.ChargingNeeds.view())
    ev_needs: Mapped[dict[str, object] | None] = mapped_column(JSON)
    # OCPP 2.1 priority charging on: scheduled in mode priority; `mode` is what it returns to once off
    priority_charging: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class UnmatchedStopRow(Base):
    """StopTransaction for an id we never issued (offline starts, -1): kept, not refused."""

    __tablename__ = "unmatched_stops"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(String(64))
    transaction_id: Mapped[int] = mapped_column(Integer)
    meter_stop_wh: Mapped[float] = mapped_column(Float)
    stop_ts: Mapped[datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str | None] = mapped_column(String(32))


class IdTagChangeRow(Base):
    """One change of the id tag table (created, changed or deleted): SendLocalList Differential is built from
    the changes after the version a charger holds; the newest change's version is the list's version."""

    __tablename__ = "id_tag_changes"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id_tag: Mapped[str] = mapped_column(String(64), index=True)


class ReservationRow(Base):
    """A reservation sent to a charger (ReserveNow) and what became of it (chargepoints.reservations)."""

    __tablename__ = "reservations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(String(64), index=True)
    connector_id: Mapped[int] = mapped_column(Integer)
    id_tag: Mapped[str] = mapped_column(String(64))
    parent_id_tag: Mapped[str | None] = mapped_column(String(64))
    id_token_type: Mapped[str] = mapped_column(String(32), default="Central")
    expiry_ts: Mapped[datetime] = mapped_column(UtcDateTime())
    created_ts: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16))
    charger_status: Mapped[str | None] = mapped_column(String(32))
    transaction_id: Mapped[int | None] = mapped_column(Integer)


class IdTagRow(Base):
    __tablename__ = "id_tags"

    id_tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="Accepted")
    expiry_date: Mapped[datetime | None] = mapped_column(UtcDateTime())
    parent_id_tag: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str | None] = mapped_column(String(32))
    account_id: Mapped[str | None] = mapped_column(String(64))  # the charging account that owns it


class AccountRow(Base):
    """A charging account: a member of a cooperative, or a guest; owns id tags, and through them sessions."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    kind: Mapped[str] = mapped_column(String(16), default="member", server_default="member")  # member | guest
    cooperative_id: Mapped[str | None] = mapped_column(String(64))
    member_id: Mapped[str | None] = mapped_column(String(64))  # the cooperative member it is, if any


class TariffRow(Base):
    """An OCPI 2.2.1 Tariff (`body`), for a cooperative's sites or one site, for members, guests or all."""

    __tablename__ = "tariffs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cooperative_id: Mapped[str | None] = mapped_column(String(64))
    site_id: Mapped[str | None] = mapped_column(String(64))
    audience: Mapped[str] = mapped_column(String(16), default="all", server_default="all")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    body: Mapped[dict[str, object]] = mapped_column(JSON)


class CdrRow(Base):
    """A charge detail record (OCPI 2.2.1 CDR in `body`): written once, never changed; a correction is a
    credit CDR naming it, and a new CDR for the session (the old one then `superseded`)."""

    __tablename__ = "cdrs"
    __table_args__ = (
        Index("ix_cdrs_account_end", "account_id", "end_ts"),
        Index("ix_cdrs_transaction", "transaction_id"),
    )

    id: Mapped[str] = mapped_column(String(39), primary_key=True)
    transaction_id: Mapped[int] = mapped_column(Integer, ForeignKey("transactions.id"))
    account_id: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    end_ts: Mapped[datetime] = mapped_column(UtcDateTime())
    credit: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    credit_reference_id: Mapped[str | None] = mapped_column(String(39))
    superseded: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    cost: Mapped[dict[str, object]] = mapped_column(JSON)  # as the session view shows it (billing Cost)
    body: Mapped[dict[str, object]] = mapped_column(JSON)


class StationCostRow(Base):
    """OCPP 2.1: the cost a station computed itself for one of its sessions (TransactionEvent costDetails),
    the newest it reported; beside CoopGrid's own cost, never instead of it."""

    __tablename__ = "station_costs"

    transaction_id: Mapped[int] = mapped_column(Integer, ForeignKey("transactions.id"), primary_key=True)
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime())
    currency: Mapped[str] = mapped_column(String(3))
    incl_tax: Mapped[float | None] = mapped_column(Float)
    excl_tax: Mapped[float | None] = mapped_column(Float)
    summary: Mapped[dict[str, object]] = mapped_column(JSON)  # chargepoints.tariffs.StationCost.as_dict()
    details: Mapped[dict[str, object]] = mapped_column(JSON)  # the costDetails as the station sent them


class SessionSlotRow(Base):
    """A finished session's energy in one 15-minute slot, and how much of it was green (the accounting's)."""

    __tablename__ = "session_energy_slots"

    transaction_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("transactions.id", ondelete="CASCADE"), primary_key=True
    )
    slot: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    wh: Mapped[float] = mapped_column(Float)
    green_wh: Mapped[float] = mapped_column(Float)


class SessionParkRow(Base):
    """A finished session's green energy from one park (the accounting's attribution; sums to its green)."""

    __tablename__ = "session_park_green"

    transaction_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("transactions.id", ondelete="CASCADE"), primary_key=True
    )
    park_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    green_wh: Mapped[float] = mapped_column(Float)


class ChargerEventRow(Base):
    """What a charger reported besides charging: firmware, diagnostics, security, data transfer."""

    __tablename__ = "charger_events"
    __table_args__ = (Index("ix_charger_events_cp", "charge_point_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(UtcDateTime())
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)


class ApiTokenRow(Base):
    """A REST bearer token: only its SHA-256 is kept (tokens are 256-bit random).

    A token finds nothing once `revoked` is set or `expires` has passed; `last_used` is written at most
    once a minute (gateway.auth.LAST_USED_EVERY). Revoked tokens are kept, so that the list says what was.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    cooperative_id: Mapped[str | None] = mapped_column(String(64))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    expires: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_used: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class DeviceVariableRow(Base):
    """An OCPP 2.0.1 device-model variable as last reported (NotifyReport, Get/SetVariables)."""

    __tablename__ = "device_variables"

    charge_point_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    component: Mapped[str] = mapped_column(String(128), primary_key=True)
    variable: Mapped[str] = mapped_column(String(128), primary_key=True)
    attribute: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str | None] = mapped_column(String(2500))
    mutability: Mapped[str | None] = mapped_column(String(16))


class SolarMinuteRow(Base):
    """Energy one inverter generated in one UTC minute (Wh), added to as samples arrive."""

    __tablename__ = "solar_energy_minutes"
    __table_args__ = (Index("ix_solar_minutes_minute", "minute"),)

    park_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    inverter_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    wh: Mapped[float] = mapped_column(Float)


class SolarBaselineRow(Base):
    """The reading the next energy delta of an inverter starts from (kept with each drain of the minutes)."""

    __tablename__ = "solar_baselines"

    park_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    inverter_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime())
    energy_wh: Mapped[float | None] = mapped_column(Float)
    power_w: Mapped[float | None] = mapped_column(Float)


class BatteryStockRow(Base):
    """A battery's stored energy by origin as the green accounting last closed it (Wh; park "" = grey)."""

    __tablename__ = "battery_stocks"

    battery_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    park_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    wh: Mapped[float] = mapped_column(Float)


class GreenMinuteRow(Base):
    """Green energy routed into EVs in one UTC minute, attributed to the park that generated it (Wh)."""

    __tablename__ = "green_energy_minutes"
    __table_args__ = (Index("ix_green_minutes_minute", "minute"),)

    park_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    wh: Mapped[float] = mapped_column(Float)
    ev_wh: Mapped[float] = mapped_column(Float, default=0.0)  # all EV energy that minute (for the share)


class ParkDayRow(Base):
    """A park's energy in one UTC day (Wh): the sum of its minutes, kept with them for long reports."""

    __tablename__ = "park_energy_days"

    park_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    generated_wh: Mapped[float] = mapped_column(Float)
    to_evs_wh: Mapped[float] = mapped_column(Float)


class FirmwareImageRow(Base):
    """A firmware image an operator uploaded: kept on disk (gateway.files) under its SHA-256."""

    __tablename__ = "firmware_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str | None] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_ts: Mapped[datetime] = mapped_column(UtcDateTime())
    signing_certificate: Mapped[str | None] = mapped_column(String(5500))
    signature: Mapped[str | None] = mapped_column(String(800))


class FileTransferRow(Base):
    """A firmware update (UpdateFirmware) or a diagnostics or log upload (GetDiagnostics, GetLog) asked of a
    charger; its id is the OCPP requestId; an upload's file, once received, on disk under the id."""

    __tablename__ = "file_transfers"
    __table_args__ = (Index("ix_file_transfers_cp", "charge_point_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # firmware | diagnostics | log
    action: Mapped[str] = mapped_column(String(32))  # the OCPP action sent
    firmware_id: Mapped[int | None] = mapped_column(Integer)
    created_ts: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_ts: Mapped[datetime] = mapped_column(UtcDateTime())
    answer: Mapped[str | None] = mapped_column(String(32))  # the charger's status answer
    filename: Mapped[str | None] = mapped_column(String(255))  # the file name it said it uploads, or did
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    received_ts: Mapped[datetime | None] = mapped_column(UtcDateTime())
    downloads: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class FileStatusRow(Base):
    """One step of a charger's firmware, diagnostics or log timeline (the *StatusNotification it sent)."""

    __tablename__ = "file_statuses"
    __table_args__ = (Index("ix_file_statuses_cp", "charge_point_id", "kind", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # firmware | diagnostics (1.6 diagnostics and every log)
    action: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(48))
    request_id: Mapped[int | None] = mapped_column(Integer)
    ts: Mapped[datetime] = mapped_column(UtcDateTime())


class OcpiPartnerRow(Base):
    """An OCPI partner (an eMSP): the tokens it may use (their SHA-256 only: token A until it registers, then
    token C), the token this CPO calls it with (token B) and its endpoints, from the credentials handshake."""

    __tablename__ = "ocpi_partners"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16))  # pending | registered | unregistered
    token_a_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_c_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_b: Mapped[str | None] = mapped_column(String(64))
    versions_url: Mapped[str | None] = mapped_column(String(255))
    version_url: Mapped[str | None] = mapped_column(String(255))
    endpoints: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)  # "module/ROLE" -> URL
    roles: Mapped[list[object]] = mapped_column(JSON, default=list)  # [{role, country_code, party_id, name}]
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    updated: Mapped[datetime] = mapped_column(UtcDateTime())


class OcpiTokenRow(Base):
    """A token of a partner's (OCPI Token), pushed by it or pulled from it."""

    __tablename__ = "ocpi_tokens"
    __table_args__ = (Index("ix_ocpi_tokens_uid", "uid"),)

    partner_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    country_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    party_id: Mapped[str] = mapped_column(String(3), primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    body: Mapped[dict[str, object]] = mapped_column(JSON)
    last_updated: Mapped[datetime] = mapped_column(UtcDateTime())
    # the id tag of its uid was made for it (else the uid is one of our own tags, which it does not change)
    owns_id_tag: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")


class OcpiPushRow(Base):
    """A call to a partner not yet acknowledged (a location, session or CDR push, a command result): kept
    until the partner answers it with success, retried with backoff, each partner's in order."""

    __tablename__ = "ocpi_pushes"
    __table_args__ = (Index("ix_ocpi_pushes_partner", "partner_id", "id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(String(36))
    method: Mapped[str] = mapped_column(String(8))
    module: Mapped[str | None] = mapped_column(String(32))  # "sessions/RECEIVER"; None: `path` is a whole URL
    path: Mapped[str] = mapped_column(String(512))
    body: Mapped[dict[str, object]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_ts: Mapped[datetime] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(String(200))
