"""ISO 15118 smart charging over OCPP 2.0.1 and 2.1 (use cases K15-K17): the rules, pure.

No asyncio and no clock reads here: the time is passed in. What lives here:
- `parse_needs`: a (schema-valid) NotifyEVChargingNeeds read into `ChargingNeeds`, or `NeedsRefused` naming
  what is wrong with it (a reason code and a sentence for the answer's statusInfo);
- `ev_limit`: a limit for the EV's transaction held within what the EV says it can take;
- `check_schedule`: the schedule a NotifyEVChargingSchedule reports, against the limit sent for that EVSE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chargepoints.profiles import Unit
from chargepoints.state import NOMINAL_VOLTAGE_V

# requestedEnergyTransfer -> phases (DC: none; the station's AC side decides)
TRANSFER_PHASES: dict[str, int | None] = {"AC_single_phase": 1, "AC_two_phase": 2, "AC_three_phase": 3, "DC": None}
LIMIT_TOLERANCE = 0.05  # profiles carry one decimal: an EV's schedule may round up by this much


class NeedsRefused(ValueError):
    """Charging needs that cannot be used: answered Rejected with `reason_code` and the message."""

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code


@dataclass(frozen=True, slots=True)
class ChargingNeeds:
    """What an EV asked for (AC: per-phase currents; DC: power), in CoopGrid's units."""

    evse_id: int
    transfer: str  # AC_single_phase | AC_two_phase | AC_three_phase | DC
    departure_ts: datetime | None
    energy_wh: float | None  # the energy it still wants
    min_current_a: float  # AC: per phase; DC: 0
    max_current_a: float  # AC: per phase; DC: the EV's DC current
    max_power_w: float | None  # DC only
    max_voltage_v: float
    max_schedule_tuples: int | None = None

    @property
    def dc(self) -> bool:
        return self.transfer == "DC"

    @property
    def phases(self) -> int | None:
        return TRANSFER_PHASES.get(self.transfer)

    def ceiling_a(self, phases: int, volts: float = NOMINAL_VOLTAGE_V) -> float:
        """The most the EV takes, as an AC current per phase at the station (DC: its power over the phases)."""
        if self.dc:
            assert self.max_power_w is not None
            return self.max_power_w / (phases * volts)
        return self.max_current_a


def _optional(params: dict[str, Any], name: str, least: float = 0.0) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise NeedsRefused("InvalidValue", f"{name} is not a number")
    if value < least:
        raise NeedsRefused("InvalidValue", f"{name} {value:g} is below {least:g}")
    return float(value)


def _required(params: dict[str, Any], name: str, least: float = 0.0) -> float:
    value = _optional(params, name, least)
    if value is None:
        raise NeedsRefused("MissingParam", f"{name} is missing")
    return value


def _departure(value: object, now: datetime) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise NeedsRefused("InvalidValue", "departureTime is not a date-time")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise NeedsRefused("InvalidValue", "departureTime is not an ISO 8601 date-time") from None
    ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    if ts <= now:
        raise NeedsRefused("InvalidValue", "departureTime is not in the future")
    return ts


def parse_needs(payload: dict[str, Any], now: datetime) -> ChargingNeeds:
    """The EV's charging needs from a NotifyEVChargingNeeds payload; NeedsRefused when they cannot be used."""
    needs = payload.get("chargingNeeds") or {}
    transfer = needs.get("requestedEnergyTransfer")
    if transfer not in TRANSFER_PHASES:
        raise NeedsRefused("UnsupportedParam", f"requestedEnergyTransfer {str(transfer)[:32]!r} is not supported")
    dc = transfer == "DC"
    name = "dcChargingParameters" if dc else "acChargingParameters"
    params = needs.get(name)
    if not isinstance(params, dict):
        raise NeedsRefused("MissingParam", f"{transfer} needs {name}")
    tuples = payload.get("maxScheduleTuples")
    if tuples is not None and (not isinstance(tuples, int) or tuples < 1):
        raise NeedsRefused("InvalidValue", "maxScheduleTuples is below 1")
    departure = _departure(needs.get("departureTime"), now)
    voltage = _required(params, "evMaxVoltage", 1.0)
    if dc:
        max_current = _required(params, "evMaxCurrent", 1.0)
        power = _optional(params, "evMaxPower", 1.0)
        return ChargingNeeds(
            evse_id=int(payload.get("evseId", 0)),
            transfer=transfer,
            departure_ts=departure,
            energy_wh=_optional(params, "energyAmount"),
            min_current_a=0.0,
            max_current_a=max_current,
            max_power_w=power if power is not None else max_current * voltage,
            max_voltage_v=voltage,
            max_schedule_tuples=tuples,
        )
    least = _required(params, "evMinCurrent")
    most = _required(params, "evMaxCurrent", 1.0)
    energy = _required(params, "energyAmount")
    if least > most:
        raise NeedsRefused("InvalidValue", f"evMinCurrent {least:g} A is above evMaxCurrent {most:g} A")
    return ChargingNeeds(
        evse_id=int(payload.get("evseId", 0)),
        transfer=transfer,
        departure_ts=departure,
        energy_wh=energy,
        min_current_a=least,
        max_current_a=most,
        max_power_w=None,
        max_voltage_v=voltage,
        max_schedule_tuples=tuples,
    )


def ev_limit(needs: ChargingNeeds, unit: Unit, limit: float, phases: int, volts: float = NOMINAL_VOLTAGE_V) -> float:
    """`limit` (in `unit`, for `phases` phases) held within the EV's range: at most what it takes, and 0 (a
    pause) when it is below the least it can charge with."""
    per_w = phases * volts  # watts per ampere on every phase
    if unit == "A":
        ceiling, floor = needs.ceiling_a(phases, volts), needs.min_current_a
    else:
        ceiling = needs.max_power_w if needs.dc and needs.max_power_w is not None else needs.max_current_a * per_w
        floor = needs.min_current_a * per_w
    held = min(limit, ceiling)
    return 0.0 if held < floor - 1e-9 else round(held, 1)


@dataclass(frozen=True, slots=True)
class SentLimit:
    """The TxProfile limit a station accepted for an EVSE: what the EV's schedule must stay within."""

    transaction_id: int
    unit: Unit
    limit: float
    phases: int


def check_schedule(schedule: dict[str, Any], sent: SentLimit, volts: float = NOMINAL_VOLTAGE_V) -> str | None:
    """Why the EV's charging schedule is not within the limit sent (None: it is)."""
    unit = schedule.get("chargingRateUnit")
    if unit not in ("A", "W"):
        return f"chargingRateUnit {str(unit)[:8]!r} is neither A nor W"
    if (schedule.get("duration") or 0) < 0:
        return "the schedule's duration is negative"
    periods = schedule.get("chargingSchedulePeriod") or []
    starts = [period.get("startPeriod", 0) for period in periods]
    if not periods or starts[0] < 0 or any(a >= b for a, b in zip(starts, starts[1:], strict=False)):
        return "the periods do not start at increasing offsets from 0"
    for number, period in enumerate(periods, 1):
        limit = float(period.get("limit", 0.0))
        phases = int(period.get("numberPhases") or sent.phases)
        if limit < 0:
            return f"period {number} has a negative limit"
        if phases > sent.phases:
            return f"period {number} uses {phases} phases, above the {sent.phases} sent"
        if unit == sent.unit:
            asked = limit
        elif unit == "W":
            asked = limit / (phases * volts)
        else:
            asked = limit * phases * volts
        if asked > sent.limit * (1 + 1e-3) + LIMIT_TOLERANCE:
            return f"period {number} asks {limit:g} {unit}, above the {sent.limit:g} {sent.unit} sent"
    return None
