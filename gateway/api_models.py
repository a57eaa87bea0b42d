"""Pydantic models of the REST API: request bodies and response documents.

The OpenAPI document is generated from these (gateway/api/openapi.py); handlers
validate bodies with them and tests check responses against them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chargepoints.identity import IDENTITY_PATTERN
from gateway.session_models import CostView, EnergyOfferEntryView, EVNeedsView, SessionView, StationCostView

__all__ = ["CostView", "EVNeedsView", "EnergyOfferEntryView", "SessionView", "StationCostView"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class ProfileView(BaseModel):
    purpose: Literal["TxProfile", "TxDefaultProfile"]
    limit_a: float | None
    status: str | None = Field(description="the charger's answer to SetChargingProfile")
    sent: datetime | None


class ConnectorView(BaseModel):
    status: str
    stale: bool = Field(False, description="the charger is offline: its last status, kept")
    power_w: float | None = Field(None, description="as last metered")
    current_a: float | None = None
    energy_wh: float | None = Field(None, description="the energy register, as last metered")
    metered: datetime | None = Field(None, description="when the charger measured those")
    offered_a: float | None = Field(None, description="the limit the site's scheduler allocates now")
    profile: ProfileView | None = Field(None, description="the last charging profile sent by this instance")


class ChargePointView(BaseModel):
    id: str
    connected: bool
    ocpp_version: Literal["1.6", "2.0.1", "2.1"] | None
    registration: Literal["Accepted", "Pending", "Rejected"]
    site_id: str | None
    connectors: dict[str, ConnectorView] = Field(description="1.6 connector id or 2.0.1 EVSE id")
    last_seen: datetime | None
    managed: bool = Field(
        True, description="on a configured site, under its scheduler; false: unmanaged (the safe limit only)"
    )


class ChargerCreate(_Body):
    id: str = Field(pattern=IDENTITY_PATTERN, description="OCPP identity: 1-48 of letters, digits and *-_=+|@.")
    security_profile: int = Field(0, ge=0, le=3)
    password: str | None = Field(None, min_length=16, max_length=40)
    site_id: str | None = None
    phases: Literal[1, 3] | None = Field(None, description="the scheduler's view: phases wired (default 3)")
    min_current_a: float | None = Field(None, gt=0, le=1000)
    max_current_a: float | None = Field(None, gt=0, le=1000)
    phase_switching: bool | None = None


class ChargerUpdate(_Body):
    security_profile: int | None = Field(None, ge=0, le=3)
    password: str | None = Field(None, min_length=16, max_length=40)
    site_id: str | None = None
    registration: Literal["Accepted", "Pending", "Rejected"] | None = None
    phases: Literal[1, 3] | None = Field(None, description="the scheduler's view: phases wired (default 3)")
    min_current_a: float | None = Field(None, gt=0, le=1000)
    max_current_a: float | None = Field(None, gt=0, le=1000)
    phase_switching: bool | None = None


class IdTagBody(_Body):
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"]
    expiry_date: datetime | None = None
    group_id: str | None = Field(None, max_length=64)
    type: str | None = Field(None, max_length=32)
    account_id: str | None = Field(None, max_length=64, description="the charging account that owns it")


class IdTagView(BaseModel):
    id_tag: str
    status: str
    expiry_date: datetime | None
    group_id: str | None
    type: str | None
    account_id: str | None = None


class AccountBody(_Body):
    id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")
    name: str = Field("", max_length=200)
    kind: Literal["member", "guest"] = "member"
    cooperative_id: str | None = Field(None, description="the cooperative it belongs to (a cooperative token: its own)")
    member_id: str | None = Field(None, max_length=64, description="the cooperative member it is (members only)")


class AccountView(BaseModel):
    id: str
    name: str
    kind: str
    cooperative_id: str | None
    member_id: str | None
    id_tags: list[str] = Field(default_factory=list)


class AccountSummaryView(BaseModel):
    account_id: str
    start: datetime | None = Field(description="sessions started from (inclusive)")
    end: datetime | None = Field(description="sessions started before")
    sessions: int
    energy_wh: float
    green_energy_wh: float
    green_share: float | None
    green_energy_by_park_wh: dict[str, float] = Field(
        description="the green energy by the park it came from (the green accounting's; sums to green_energy_wh)"
    )
    cost: dict[str, str] = Field(description="per currency: the sessions' total including VAT")
    unpriced_sessions: int = Field(description="sessions with no tariff (none configured when they started)")


class TariffBody(_Body):
    cooperative_id: str | None = Field(None, description="its sites (none: every site, unless site_id)")
    site_id: str | None = Field(None, description="one site only")
    audience: Literal["member", "guest", "all"] = "all"
    timezone: str = Field("UTC", description="where time-of-use restrictions are read (the site's)")
    tariff: dict[str, Any] = Field(description="an OCPI 2.2.1 Tariff object; `green_price` per component extends it")


class CreditBody(_Body):
    reissue: bool = Field(False, description="also issue a new CDR at the session's tariff as it stands now")


class TariffView(BaseModel):
    id: str
    cooperative_id: str | None
    site_id: str | None
    audience: str
    timezone: str
    tariff: dict[str, Any]
    stations_told: dict[str, str] = Field(
        default_factory=dict,
        description="PUT: the connected OCPP 2.1 stations whose default tariff it now is, each with its "
        "SetDefaultTariff answer (or the error: NotConnected, Timeout, a CallError code)",
    )


class ChargerEventView(BaseModel):
    ts: datetime
    kind: str
    payload: dict[str, Any]


class MemberView(BaseModel):
    id: str
    name: str | None
    parks: list[str]


class CooperativeView(BaseModel):
    id: str
    name: str | None
    members: list[MemberView]


class ReportPark(BaseModel):
    id: str
    generated_kwh: float
    to_evs_kwh: float = Field(description="green energy routed into EVs, attributed pro rata to generation")
    exported_kwh: float = Field(description="generated and not taken by an EV")


class ReportMember(BaseModel):
    id: str
    name: str | None
    generated_kwh: float
    to_evs_kwh: float
    exported_kwh: float
    parks: list[ReportPark]


class ReportGrid(BaseModel):
    ev_grid_kwh: float = Field(description="energy into the cooperative's EVs that was not green")
    ev_grid_cost_eur: float | None = Field(None, description="at the planner's grid price of each 15-minute slot")


class CooperativeReport(BaseModel):
    cooperative_id: str
    name: str | None
    from_: datetime = Field(alias="from")
    to: datetime
    generated_kwh: float
    to_evs_kwh: float
    exported_kwh: float
    members: list[ReportMember]
    grid: ReportGrid | None = Field(None, description="JSON only: the EVs' grid energy and its cost")


class EnergyPoint(BaseModel):
    start: datetime
    generated_wh: float
    to_evs_wh: float


class ParkEnergy(BaseModel):
    park_id: str
    bucket: Literal["minute", "15min", "hour", "day", "month"]
    from_: datetime = Field(alias="from")
    to: datetime
    series: list[EnergyPoint]


class RejectedPayload(BaseModel):
    received: datetime
    topic: str
    park_id: str | None = Field(description="the configured park the topic belongs to, if any")
    reason: str
    payload: str = Field(description="as received; bytes that are not UTF-8 as \\x escapes")


class SolarRejects(BaseModel):
    accepted: int | None = Field(description="telemetry messages taken since start (operators only)")
    parsed: int | None = Field(
        description="messages this instance parsed since start (with a share group: its share, the others' readings "
        "reach it already parsed; operators only)"
    )
    counts: dict[str, int]
    recent: list[RejectedPayload]


class Health(BaseModel):
    status: Literal["ok"]
    bus_connected: bool
    version: str
    instance: str
    scheduler_leader: bool


class TokenCreate(_Body):
    name: str | None = Field(None, min_length=1, max_length=64, description="a label (default: the role)")
    role: Literal["operator", "cooperative", "viewer"]
    cooperative_id: str | None = Field(
        None, min_length=1, max_length=64, description="required for, and only for, the cooperative role"
    )
    expires: str | None = Field(
        None,
        description="a duration from now (45m, 12h, 30d, 2w) or an ISO-8601 time (UTC without an offset); "
        "default: never",
        examples=["30d", "2027-01-31T18:00:00Z"],
    )


class TokenView(BaseModel):
    id: int
    name: str
    role: Literal["operator", "cooperative", "viewer"]
    cooperative_id: str | None
    created: datetime
    expires: datetime | None
    revoked: datetime | None
    last_used: datetime | None = Field(description="updated at most once a minute")
    state: Literal["active", "expired", "revoked"]


class TokenCreated(TokenView):
    token: str = Field(description="the bearer token: shown in this answer only, stored hashed")


OcppPayload = dict[str, Any]


SITE_ID = r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,63}$"


class SiteUpdate(_Body):
    name: str | None = Field(None, max_length=200)
    cooperative_id: str | None = Field(None, pattern=SITE_ID, description="the cooperative that runs the site")
    grid_limit_a: float | None = Field(None, gt=0, le=100_000, description="grid connection limit per phase, A")
    base_load_a: float | None = Field(None, ge=0, le=100_000)
    voltage_v: float | None = Field(None, gt=0, le=1000, description="phase voltage used by allocation")


class SiteCreate(SiteUpdate):
    id: str = Field(pattern=SITE_ID)
    grid_limit_a: float = Field(gt=0, le=100_000, description="grid connection limit per phase, A")


class SiteView(BaseModel):
    id: str
    name: str
    cooperative_id: str | None
    grid_limit_a: float
    base_load_a: float
    voltage_v: float


class ReservationBody(_Body):
    connector_id: int = Field(ge=0, le=2**31 - 1, description="1.6 connector or 2.0.1 EVSE; 0: the charger as a whole")
    id_tag: str = Field(min_length=1, max_length=36, description="the id tag (2.0.1 idToken) it is kept for")
    expiry_date: datetime = Field(description="when the reservation ends unless used (UTC when given no offset)")
    parent_id_tag: str | None = Field(None, min_length=1, max_length=40, description="any tag of this group may use it")
    id_token_type: str = Field("Central", max_length=20, description="2.0.1 idToken type")


class ReservationView(BaseModel):
    id: int = Field(description="the OCPP reservation id")
    charge_point_id: str
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    expiry_date: datetime
    status: Literal["Requested", "Active", "Used", "Cancelled", "Expired", "Removed", "Refused", "Failed"]
    charger_status: str | None = Field(description="the charger's answer to ReserveNow or CancelReservation")
    transaction_id: int | None = Field(description="the session that used it")


class SignIn(_Body):
    token: str = Field(min_length=1, max_length=512, description="an API token (or the operator token)")


class SignedIn(BaseModel):
    role: Literal["operator", "cooperative", "viewer"]
    cooperative_id: str | None = None
    name: str = ""
    auth: bool = Field(description="whether the API needs a token at all (off in a local demo)")


class PlanSlotView(BaseModel):
    start: str = Field(description="ISO 8601 UTC")
    import_wh: float
    export_wh: float
    green_ev_wh: float = Field(description="green energy planned into the site's EVs (solar and green battery)")
    max_phase_a: float = Field(description="the highest phase's planned average current, other load included")
    import_eur_per_kwh: float | None = Field(None, description="the grid price the plan counted on")
    export_eur_per_kwh: float | None = None


class PlanSessionView(BaseModel):
    charge_point_id: str
    connector_id: int
    energy_wh: list[float] = Field(description="per slot")
    grid_wh: list[float] = Field(description="per slot: the grid budget the scheduler follows")
    shortfall_wh: float = Field(description="target energy the plan cannot deliver by the departure")


class PlanBatteryView(BaseModel):
    id: str
    charge_wh: list[float]
    discharge_wh: list[float]
    soc: list[float] = Field(description="at each slot boundary")
    soc_source: str = Field("configured", description="slot 0's state of charge: measured, estimated or configured")
    setpoint_w: float | None = Field(None, description="the last setpoint sent to the battery, W (+ charging)")
    telemetry: dict[str, Any] | None = Field(None, description="the battery's live telemetry as this instance sees it")


class PlanView(BaseModel):
    site_id: str
    planned: bool = Field(description="false: no plan yet, the planner is off, or another instance leads")
    start: str | None = None
    slot_s: float | None = None
    quantile: float | None = Field(None, description="the forecast quantile the plan counts on")
    cost_eur: float | None = Field(None, description="the site's planned grid cost over the horizon (import - export)")
    slots: list[PlanSlotView] = Field(default_factory=list)
    sessions: list[PlanSessionView] = Field(default_factory=list)
    batteries: list[PlanBatteryView] = Field(default_factory=list)


class OcpiPartnerCreate(_Body):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,35}$", description="our name for the partner")
    name: str = Field(min_length=1, max_length=100)


class OcpiPartnerView(BaseModel):
    id: str
    name: str
    state: Literal["pending", "registered", "unregistered"]
    versions_url: str | None = Field(description="the partner's versions URL (once registered)")
    roles: list[dict[str, Any]]
    endpoints: dict[str, str]
    queued: int = Field(description="pushes to it not yet acknowledged")
    last_error: str | None = Field(description="why the oldest queued push failed last")


class OcpiPartnerCreated(OcpiPartnerView):
    token_a: str = Field(description="the registration token to hand the partner: shown in this answer only")
    our_versions_url: str = Field(description="where the partner starts the handshake")
