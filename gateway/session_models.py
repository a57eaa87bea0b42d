"""The REST API's session documents (GET /api/sessions and /api/sessions/{id}): the session, its cost,
the cost its OCPP 2.1 station computed, and its EV's ISO 15118 needs. Re-exported by gateway.api_models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class CostView(BaseModel):
    """Amounts as decimal strings in the tariff's currency, excluding VAT unless named so."""

    tariff_id: str
    currency: str
    energy: str
    green_energy: str = Field(description="the part of `energy` the green kWh cost")
    flat: str
    time: str
    parking: str
    excl_vat: str
    vat: str
    incl_vat: str


class StationCostView(BaseModel):
    currency: str
    incl_tax: float | None = Field(description="totalCost.total.inclTax, as the station rounded it")
    excl_tax: float | None
    energy_wh: float = Field(description="totalUsage.energy")
    duration_s: int = Field(description="totalUsage.chargingTime: the whole transaction, charging or not")
    idle_s: int
    tariff_ids: list[str] = Field(description="the tariffs its charging periods name")
    failure: str | None = Field(description="failureToCalculate: the station's reason")
    reported_at: datetime
    cost_details: dict[str, Any] = Field(description="the costDetails as the station sent them")


class EnergyOfferEntryView(BaseModel):
    duration_s: int
    power_w: float = Field(description="the EV's power for this entry (negative: discharge it offers)")


class EVNeedsView(BaseModel):
    """ISO 15118: what the session's EV last told in NotifyEVChargingNeeds (OCPP 2.0.1 and 2.1), in CoopGrid's
    units; null: not told. The charge range bounds the scheduler and the planner; the discharge fields and the
    energy offer are shown only (CoopGrid does not discharge EVs)."""

    energy_transfer: str = Field(description="requestedEnergyTransfer: AC_single_phase ... DC, 2.1's AC_BPT, DC_BPT")
    available_transfers: list[str] | None = Field(description="2.1 availableEnergyTransfer")
    control_mode: str | None = Field(description="2.1 controlMode: ScheduledControl or DynamicControl")
    mobility_needs_mode: str | None = Field(description="2.1 mobilityNeedsMode: EVCC or EVCC_SECC")
    departure: datetime | None = Field(description="departureTime")
    energy_wh: float | None = Field(
        description="the energy the EV still wanted when it told: evTargetEnergyRequest, else (targetSoC - "
        "stateOfCharge) x evEnergyCapacity, else energyAmount"
    )
    session_energy_wh: float | None = Field(
        None, description="that energy counted from the session's start: what the scheduler and planner aim at"
    )
    phases: int | None = Field(description="the phases its transfer mode names (null: DC, or the station's wiring)")
    min_charge_current_a: float | None = Field(description="AC: evMinCurrent per phase")
    max_charge_current_a: float | None = Field(description="AC: evMaxCurrent per phase; DC: the EV's DC current")
    min_charge_power_w: float | None = Field(description="2.1 minChargePower, over the phases")
    max_charge_power_w: float | None = Field(
        description="DC evMaxPower (or evMaxCurrent x evMaxVoltage), 2.1 maxChargePower: the least of them"
    )
    min_discharge_current_a: float | None
    max_discharge_current_a: float | None
    min_discharge_power_w: float | None
    max_discharge_power_w: float | None
    max_voltage_v: float | None
    soc: int | None = Field(description="DC stateOfCharge, %")
    target_soc: int | None = Field(description="2.1 targetSoC at the departure, %")
    full_soc: int | None
    bulk_soc: int | None
    capacity_wh: float | None = Field(description="DC evEnergyCapacity")
    min_energy_wh: float | None = Field(description="2.1 evMinEnergyRequest: energy to its minimum SoC")
    max_energy_wh: float | None = Field(description="2.1 evMaxEnergyRequest: energy to its maximum SoC")
    energy_offer: list[EnergyOfferEntryView] | None = Field(description="2.1 evEnergyOffer's power schedule")
    reported_at: datetime | None = Field(None, description="when CoopGrid received it")


class SessionView(BaseModel):
    id: int | str = Field(description="our integer id for OCPP 1.6, the charger's string for 2.0.1")
    charge_point_id: str
    connector_id: int
    id_tag: str
    active: bool
    energy_wh: float
    green_energy_wh: float
    green_share: float | None
    energy_source: str = Field(
        "register",
        description='"register": from the charger\'s energy register; "power": integrated from its power '
        "(the charger reports no register)",
    )
    meter_start_wh: float
    meter_stop_wh: float | None
    start: datetime
    stop: datetime | None
    stop_reason: str | None
    awaiting_messages: bool = Field(
        False,
        description="2.0.1: the station said it ended, its queued messages not yet arrived (GetTransactionStatus)",
    )
    mode: str = Field(
        description="how the scheduler charges it: green, green_min, fast, departure, or priority while OCPP 2.1 "
        "priority charging is on"
    )
    priority_charging: bool = Field(
        False, description="OCPP 2.1 priority charging on (mode priority; off, the mode set for it again)"
    )
    priority: int
    target_wh: float | None = Field(description="departure mode: the energy wanted in this session")
    departure: datetime | None = Field(description="departure mode: when the EV leaves")
    account_id: str | None = Field(None, description="the charging account its id tag belonged to at its start")
    cost: CostView | None = Field(None, description="at the tariff chosen at its start; so far while it runs")
    grid_cost_eur: float | None = Field(
        None, description="its grid (not green) energy at the planner's grid price of each 15-minute slot"
    )
    tariff_id: str | None = Field(
        None, description="the tariff it is priced at (chosen at its start, or changed since)"
    )
    station_cost: StationCostView | None = Field(
        None, description="OCPP 2.1: the cost its station computed itself (TransactionEvent costDetails), the newest"
    )
    ev_needs: EVNeedsView | None = Field(
        None, description="ISO 15118: its EV's charging needs (its range; 2.1's V2X parameters), the newest told"
    )
