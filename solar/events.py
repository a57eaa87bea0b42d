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
