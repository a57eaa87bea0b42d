"""ISO 15118 smart charging over OCPP 2.0.1 and 2.1 (use cases K15-K17, 2.1's V2X parameters): the rules, pure.

No asyncio and no clock reads here: the time is passed in. What lives here:
- `parse_needs`: a (schema-valid) NotifyEVChargingNeeds read into `ChargingNeeds`, or `NeedsRefused` naming
  what is wrong with it (a reason code and a sentence for the answer's statusInfo). 2.0.1's AC and DC
  parameters, and 2.1's: the bidirectional and DER transfer modes (AC_BPT, DC_BPT, ...), the
  v2xChargingParameters (the EV's min/max charge and discharge power and current, target SoC, energy
  requests), controlMode, mobilityNeedsMode, availableEnergyTransfer and the evEnergyOffer's power schedule;
- `ChargingNeeds.view()`: what is stored with the session and shown as its `ev_needs` (JSON, no NaN/inf);
- `ev_limit`: a limit for the EV's transaction held within what the EV says it can take;
- `check_schedule`: the schedule a NotifyEVChargingSchedule reports, against the limit sent for that EVSE.

The EV's range (the floor and ceiling it charges within) comes from every field that bounds it: AC
evMinCurrent/evMaxCurrent per phase, DC evMaxPower (or evMaxCurrent x evMaxVoltage), and 2.1's
minChargePower/maxChargePower (the sum of the phases; with _L2/_L3 values, per phase: the weakest phase sets
the maximum, the strongest the minimum) and, for DC, maxChargeCurrent x maxVoltage. The energy it wants: the
EV's evTargetEnergyRequest, else (targetSoC - stateOfCharge) x evEnergyCapacity, else energyAmount.
Discharge parameters are read, stored and shown only: CoopGrid does not discharge EVs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chargepoints.profiles import Unit
from chargepoints.state import NOMINAL_VOLTAGE_V

# requestedEnergyTransfer -> phases (DC: none; the station's AC side decides; 2.1's AC_BPT/AC_DER: the station's
# wiring decides too). WPT (wireless) is not supported: it states no range CoopGrid could hold a limit within.
TRANSFER_PHASES: dict[str, int | None] = {
    "AC_single_phase": 1,
    "AC_two_phase": 2,
    "AC_three_phase": 3,
    "DC": None,
    "AC_BPT": None,
    "AC_BPT_DER": None,
    "AC_DER": None,
    "DC_BPT": None,
    "DC_ACDP": None,
    "DC_ACDP_BPT": None,
}
DC_TRANSFERS = frozenset({"DC", "DC_BPT", "DC_ACDP", "DC_ACDP_BPT"})
LIMIT_TOLERANCE = 0.05  # profiles carry one decimal: an EV's schedule may round up by this much


class NeedsRefused(ValueError):
    """Charging needs that cannot be used: answered Rejected with `reason_code` and the message."""

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code


@dataclass(frozen=True, slots=True)
class ChargingNeeds:
    """What an EV asked for (AC: per-phase currents; DC: power; 2.1: V2X power bounds), in CoopGrid's units."""

    evse_id: int
    transfer: str  # requestedEnergyTransfer: AC_single_phase | AC_two_phase | AC_three_phase | DC | 2.1's modes
    departure_ts: datetime | None
    energy_wh: float | None  # the energy it still wants (the target: see the module's docstring)
    min_current_a: float  # AC: per phase; DC: 0
    max_current_a: float  # AC: per phase (inf: only a power bounds it); DC: the EV's DC current
    max_power_w: float | None  # the most it takes over its phases (DC: always; AC: 2.1's maxChargePower)
    max_voltage_v: float | None
    max_schedule_tuples: int | None = None
    min_power_w: float | None = None  # 2.1: the least it charges with, over its phases (minChargePower)
    # 2.1, stored and shown (not used to discharge: CoopGrid does not discharge EVs)
    control_mode: str | None = None  # ScheduledControl | DynamicControl
    mobility_needs_mode: str | None = None  # EVCC | EVCC_SECC
    available_transfers: tuple[str, ...] = ()
    min_discharge_power_w: float | None = None
    max_discharge_power_w: float | None = None
    min_discharge_current_a: float | None = None
    max_discharge_current_a: float | None = None
    soc: int | None = None  # stateOfCharge, %
    target_soc: int | None = None  # targetSoC at the departure, %
    full_soc: int | None = None
    bulk_soc: int | None = None
    capacity_wh: float | None = None  # evEnergyCapacity
    min_energy_wh: float | None = None  # evMinEnergyRequest: to its minimum SoC
    max_energy_wh: float | None = None  # evMaxEnergyRequest: to its maximum SoC
    energy_offer: tuple[tuple[int, float], ...] = ()  # evEnergyOffer's power schedule: (duration s, power W)

    @property
    def dc(self) -> bool:
        return self.transfer in DC_TRANSFERS

    @property
    def phases(self) -> int | None:
        return TRANSFER_PHASES.get(self.transfer)

    def ceiling_a(self, phases: int, volts: float = NOMINAL_VOLTAGE_V) -> float:
        """The most the EV takes, as an AC current per phase at the station (a power: over the phases)."""
        most = math.inf if self.dc else self.max_current_a
        if self.max_power_w is not None:
            most = min(most, self.max_power_w / (phases * volts))
        return most

    def floor_a(self, phases: int, volts: float = NOMINAL_VOLTAGE_V) -> float:
        """The least the EV charges with, as an AC current per phase (below it: a pause)."""
        least = 0.0 if self.dc else self.min_current_a
        if self.min_power_w is not None:
            least = max(least, self.min_power_w / (phases * volts))
        return least

    def view(self) -> dict[str, Any]:
        """The needs as stored with the session and shown in REST (`ev_needs`): JSON, unknowns as null."""

        def finite(value: float | None) -> float | None:
            return value if value is not None and math.isfinite(value) else None

        return {
            "energy_transfer": self.transfer,
            "available_transfers": list(self.available_transfers) or None,
            "control_mode": self.control_mode,
            "mobility_needs_mode": self.mobility_needs_mode,
            "departure": None if self.departure_ts is None else self.departure_ts.isoformat(),
            "energy_wh": self.energy_wh,
            "phases": self.phases,
            "min_charge_current_a": None if self.dc else self.min_current_a,
            "max_charge_current_a": finite(self.max_current_a),
            "min_charge_power_w": self.min_power_w,
            "max_charge_power_w": self.max_power_w,
            "min_discharge_current_a": self.min_discharge_current_a,
            "max_discharge_current_a": self.max_discharge_current_a,
            "min_discharge_power_w": self.min_discharge_power_w,
            "max_discharge_power_w": self.max_discharge_power_w,
            "max_voltage_v": self.max_voltage_v,
            "soc": self.soc,
            "target_soc": self.target_soc,
            "full_soc": self.full_soc,
            "bulk_soc": self.bulk_soc,
            "capacity_wh": self.capacity_wh,
            "min_energy_wh": self.min_energy_wh,
            "max_energy_wh": self.max_energy_wh,
            "energy_offer": [{"duration_s": d, "power_w": p} for d, p in self.energy_offer] or None,
        }


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


def _percent(params: dict[str, Any], name: str) -> int | None:
    value = _optional(params, name)
    if value is None:
        return None
    if value > 100 or value != int(value):
        raise NeedsRefused("InvalidValue", f"{name} {value:g} is not a percentage")
    return int(value)


def _ordered(name: str, least: float | None, most: float | None, unit: str) -> None:
    if least is not None and most is not None and least > most:
        raise NeedsRefused("InvalidValue", f"{name}: the minimum {least:g} {unit} is above the maximum {most:g} {unit}")


def _phase_power(v2x: dict[str, Any], name: str, *, weakest: bool) -> float | None:
    """2.1's power over the phases: the field alone is their sum; with _L2/_L3 values it is phase L1's, and
    the EV's bound over its phases is the weakest phase's (a maximum) or the strongest's (a minimum) on each."""
    total = _optional(v2x, name)
    others = [p for p in (_optional(v2x, f"{name}_L2"), _optional(v2x, f"{name}_L3")) if p is not None]
    if total is None or not others:
        return total
    per_phase = [total, *others]
    return (min(per_phase) if weakest else max(per_phase)) * len(per_phase)


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


def _offer(needs: dict[str, Any]) -> tuple[tuple[int, float], ...]:
    """The evEnergyOffer's power schedule (what the EV offers to discharge, W per entry): shown, not used."""
    offer = needs.get("evEnergyOffer")
    schedule = offer.get("evPowerSchedule") if isinstance(offer, dict) else None
    entries = schedule.get("evPowerScheduleEntries") if isinstance(schedule, dict) else None
    if not isinstance(entries, list):
        return ()
    out = []
    for entry in entries[:1024]:
        if not isinstance(entry, dict):
            raise NeedsRefused("InvalidValue", "evPowerScheduleEntries holds a non-object")
        duration = _required(entry, "duration")
        power = _required(entry, "power", -math.inf)
        out.append((int(duration), power))
    return tuple(out)


def _transfers(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise NeedsRefused("InvalidValue", "availableEnergyTransfer is not a list of modes")
    return tuple(t[:16] for t in value[:16])


def _choice(needs: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    value = needs.get(name)
    if value is None:
        return None
    if value not in allowed:
        raise NeedsRefused("InvalidValue", f"{name} {str(value)[:32]!r} is not one of {', '.join(allowed)}")
    return str(value)


def parse_needs(payload: dict[str, Any], now: datetime) -> ChargingNeeds:  # noqa: C901 - one message, read once
    """The EV's charging needs from a NotifyEVChargingNeeds payload; NeedsRefused when they cannot be used."""
    needs = payload.get("chargingNeeds") or {}
    transfer = needs.get("requestedEnergyTransfer")
    if transfer not in TRANSFER_PHASES:
        raise NeedsRefused("UnsupportedParam", f"requestedEnergyTransfer {str(transfer)[:32]!r} is not supported")
    dc = transfer in DC_TRANSFERS
    v2x = needs.get("v2xChargingParameters")
    if v2x is not None and not isinstance(v2x, dict):
        raise NeedsRefused("InvalidValue", "v2xChargingParameters is not an object")
    v2x = v2x or {}
    name = "dcChargingParameters" if dc else "acChargingParameters"
    params = needs.get(name)
    if params is not None and not isinstance(params, dict):
        raise NeedsRefused("InvalidValue", f"{name} is not an object")
    # 2.0.1's modes need their parameters; 2.1's own modes may state their range in v2xChargingParameters only
    own_params = transfer in ("AC_single_phase", "AC_two_phase", "AC_three_phase", "DC")
    if params is None and (own_params or not v2x):
        raise NeedsRefused("MissingParam", f"{transfer} needs {name}")
    tuples = payload.get("maxScheduleTuples")
    if tuples is not None and (not isinstance(tuples, int) or isinstance(tuples, bool) or tuples < 1):
        raise NeedsRefused("InvalidValue", "maxScheduleTuples is below 1")
    departure = _departure(needs.get("departureTime"), now)

    # the V2X bounds (2.1): charge power over the phases, DC charge current, discharge (shown only)
    min_charge_w = _phase_power(v2x, "minChargePower", weakest=False)
    max_charge_w = _phase_power(v2x, "maxChargePower", weakest=True)
    _ordered("charge power", min_charge_w, max_charge_w, "W")
    min_discharge_w = _phase_power(v2x, "minDischargePower", weakest=False)
    max_discharge_w = _phase_power(v2x, "maxDischargePower", weakest=True)
    _ordered("discharge power", min_discharge_w, max_discharge_w, "W")
    min_charge_a, max_charge_a = _optional(v2x, "minChargeCurrent"), _optional(v2x, "maxChargeCurrent")
    _ordered("charge current", min_charge_a, max_charge_a, "A")
    min_discharge_a, max_discharge_a = _optional(v2x, "minDischargeCurrent"), _optional(v2x, "maxDischargeCurrent")
    _ordered("discharge current", min_discharge_a, max_discharge_a, "A")
    v2x_voltage = _optional(v2x, "maxVoltage", 1.0)

    p = params or {}
    max_power: float | None
    voltage = _required(p, "evMaxVoltage", 1.0) if params is not None else v2x_voltage
    if dc:
        max_current = _required(p, "evMaxCurrent", 1.0) if params is not None else (max_charge_a or math.inf)
        dc_power = _optional(p, "evMaxPower", 1.0)
        if dc_power is None and params is not None and voltage is not None:
            dc_power = max_current * voltage
        limits = [w for w in (dc_power, max_charge_w) if w is not None]
        if max_charge_a is not None and (v2x_voltage or voltage) is not None:
            limits.append(max_charge_a * (v2x_voltage or voltage or 0.0))
        if not limits:
            raise NeedsRefused("MissingParam", f"{transfer} needs maxChargePower, or maxChargeCurrent and maxVoltage")
        min_current, max_power = 0.0, min(limits)
        requested = _optional(p, "energyAmount")
    else:
        if params is not None:
            min_current = _required(p, "evMinCurrent")
            max_current = _required(p, "evMaxCurrent", 1.0)
            requested = _required(p, "energyAmount")
            if min_current > max_current:
                raise NeedsRefused(
                    "InvalidValue", f"evMinCurrent {min_current:g} A is above evMaxCurrent {max_current:g} A"
                )
        elif max_charge_w is None:
            raise NeedsRefused("MissingParam", f"{transfer} needs acChargingParameters or maxChargePower")
        else:
            min_current, max_current, requested = 0.0, math.inf, None
        max_power = max_charge_w

    soc, capacity = _percent(p, "stateOfCharge"), _optional(p, "evEnergyCapacity")
    target_soc = _percent(v2x, "targetSoC")
    target_request = _optional(v2x, "evTargetEnergyRequest", -math.inf)
    if target_request is not None:
        energy: float | None = max(0.0, target_request)  # below 0: above its target already
    elif target_soc is not None and soc is not None and capacity is not None:
        energy = max(0.0, (target_soc - soc) / 100.0 * capacity)
    else:
        energy = requested
    return ChargingNeeds(
        evse_id=int(payload.get("evseId", 0)),
        transfer=transfer,
        departure_ts=departure,
        energy_wh=energy,
        min_current_a=min_current,
        max_current_a=max_current,
        max_power_w=max_power,
        max_voltage_v=voltage,
        max_schedule_tuples=tuples,
        min_power_w=min_charge_w,
        control_mode=_choice(needs, "controlMode", ("ScheduledControl", "DynamicControl")),
        mobility_needs_mode=_choice(needs, "mobilityNeedsMode", ("EVCC", "EVCC_SECC")),
        available_transfers=_transfers(needs.get("availableEnergyTransfer")),
        min_discharge_power_w=min_discharge_w,
        max_discharge_power_w=max_discharge_w,
        min_discharge_current_a=min_discharge_a,
        max_discharge_current_a=max_discharge_a,
        soc=soc,
        target_soc=target_soc,
        full_soc=_percent(p, "fullSoC"),
        bulk_soc=_percent(p, "bulkSoC"),
        capacity_wh=capacity,
        min_energy_wh=_optional(v2x, "evMinEnergyRequest", -math.inf),
        max_energy_wh=_optional(v2x, "evMaxEnergyRequest", -math.inf),
        energy_offer=_offer(needs),
    )


def ev_limit(needs: ChargingNeeds, unit: Unit, limit: float, phases: int, volts: float = NOMINAL_VOLTAGE_V) -> float:
    """`limit` (in `unit`, for `phases` phases) held within the EV's range: at most what it takes, and 0 (a
    pause) when it is below the least it can charge with."""
    per = 1.0 if unit == "A" else phases * volts  # W: watts per ampere on every phase
    ceiling, floor = needs.ceiling_a(phases, volts) * per, needs.floor_a(phases, volts) * per
    held = min(limit, ceiling)
    return 0.0 if held < floor - 1e-9 or held <= 0 else round(held, 1)


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
