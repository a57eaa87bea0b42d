"""Normalise OCPP sampled values to Wh, W and A (pure, no I/O)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ocpp.exceptions import PropertyConstraintViolationError

_ENERGY = "Energy.Active.Import.Register"
_POWER = "Power.Active.Import"
_CURRENT = "Current.Import"

_SCALE = {"Wh": 1.0, "kWh": 1000.0, "W": 1.0, "kW": 1000.0, "A": 1.0}


@dataclass(frozen=True, slots=True)
class Reading:
    energy_wh: float | None = None
    power_w: float | None = None
    current_a: float | None = None


def _value(sample: Mapping[str, Any], default_unit: str) -> float | None:
    try:
        value = float(sample["value"])
    except (KeyError, TypeError, ValueError):
        return None
    unit = sample.get("unit") or default_unit
    return value * _SCALE.get(unit, 1.0)


def normalise(sampled_values: Iterable[Mapping[str, Any]]) -> Reading:
    """Reduce one MeterValue's sampled values to a Reading.

    Energy prefers the total (no phase); power sums phases when no total is
    given; current is the highest phase current (what limits a charger).
    Unknown measurands are ignored rather than rejected.
    """
    energy: float | None = None
    power_total: float | None = None
    power_phases = 0.0
    have_power_phase = False
    current: float | None = None
    for sample in sampled_values:
        measurand = sample.get("measurand") or _ENERGY
        phase = sample.get("phase")
        if measurand == _ENERGY:
            value = _value(sample, "Wh")
            if value is not None and (energy is None or not phase):
                energy = value
        elif measurand == _POWER:
            value = _value(sample, "W")
            if value is None:
                continue
            if phase and phase.startswith("L") and "-" not in phase:
                power_phases += value
                have_power_phase = True
            elif not phase:
                power_total = value
        elif measurand == _CURRENT:
            value = _value(sample, "A")
            if value is not None and (phase is None or not phase.startswith("N")):
                current = value if current is None else max(current, value)
    power = power_total if power_total is not None else (power_phases if have_power_phase else None)
    return Reading(energy_wh=energy, power_w=power, current_a=current)


def parse_ts(value: object, default: datetime) -> datetime:
    if not isinstance(value, str) or not value:
        return default
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return default
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def readings(
    meter_values: list[dict[str, Any]] | None,
    default_ts: datetime,
    samples: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] = lambda s: s,
) -> list[tuple[datetime, Reading]]:
    """Every MeterValue as (timestamp, Reading), all read before any is used: a value that is not a finite
    number ("NaN", "1e999") is a PropertyConstraintViolation, and then nothing of the message is taken."""
    out = []
    for value in meter_values or []:
        reading = normalise(samples(value.get("sampledValue", [])))
        for name in ("energy_wh", "power_w", "current_a"):
            number = getattr(reading, name)
            if number is not None and not math.isfinite(number):
                raise PropertyConstraintViolationError(details={"cause": "a sampled value is not a finite number"})
        out.append((parse_ts(value.get("timestamp"), default_ts), reading))
    return out


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
