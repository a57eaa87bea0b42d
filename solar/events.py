"""Domain events of the solar side (plain, frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class InverterPowerChanged:
    park_id: str
    inverter_id: str
    power_w: float
    stale: bool
    ts: datetime


@dataclass(frozen=True, slots=True)
class InverterLivenessChanged:
    park_id: str
    inverter_id: str
    state: str  # online | offline | stale
    ts: datetime


@dataclass(frozen=True, slots=True)
class TelemetryRejected:
    topic: str
    reason: str
    ts: datetime


SolarEvent = InverterPowerChanged | InverterLivenessChanged | TelemetryRejected


@dataclass(frozen=True, slots=True)
class GridMeterReading:
    """A site's grid connection meter: the current on each phase (A, + = import), with power and energy if known."""

    site_id: str
    current_a: tuple[float, float, float]
    power_w: float | None
    energy_wh: float | None
    ts: datetime


@dataclass(frozen=True, slots=True)
class GridMeterStateChanged:
    """A grid meter came online, went silent (no reading within its timeout) or offline; fallback: the site
    is scheduled on its static grid limit and base load until the meter speaks again."""

    site_id: str
    state: str  # online | silent | offline
    fallback: bool
    ts: datetime


GridMeterEvent = GridMeterReading | GridMeterStateChanged


@dataclass(frozen=True, slots=True)
class BatteryReading:
    """A stationary battery's state of charge (a share of its capacity) and power (AC side, + charging)."""

    battery_id: str
    site_id: str
    soc: float
    power_w: float | None
    ts: datetime


@dataclass(frozen=True, slots=True)
class BatteryStateChanged:
    """A battery's telemetry came online, went silent (nothing within its timeout) or offline."""

    battery_id: str
    site_id: str
    state: str  # online | silent | offline
    ts: datetime


BatteryEvent = BatteryReading | BatteryStateChanged
