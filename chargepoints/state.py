"""What the central system knows live about a charger (pure data)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from chargepoints.profiles import Unit

NOMINAL_VOLTAGE_V = 230.0


@dataclass(slots=True)
class ChargerState:
    """What we know live about a charger (in memory; the record is persisted)."""

    id: str
    connected: bool = False
    ocpp_version: str | None = None
    registration: str = "Accepted"
    connectors: dict[int, str] = field(default_factory=dict)
    last_seen: datetime | None = None
    site_id: str | None = None
    lenient: bool | None = None  # None: the central system's default
    phases: int = 3
    # ChargingScheduleAllowedChargingRateUnit: which units its profiles may use
    rate_units: tuple[str, ...] = ("Current",)
    quirks: Counter[str] = field(default_factory=Counter)
    # How many connectors (1.6) or EVSEs (2.0.1) it has, when known: from configuration, 1.6
    # NumberOfConnectors, or a 2.0.1 full inventory report. None: only ids beyond 32 bits are refused.
    connector_count: int | None = None
    # 2.0.1 (ItemsPerMessage | BytesPerMessage, action) -> the limit the station reported (chargepoints.device_model)
    message_limits: dict[tuple[str, str], int] = field(default_factory=dict)
    limits_read: bool = False  # the stored device model's limits read in (once per process)

    def in_allowed_unit(self, limit_a: float, phases: int | None) -> tuple[Unit, float]:
        """A limit in the unit its profiles may use: amperes, or watts for a charger that takes only Power."""
        if "Current" in self.rate_units:
            return "A", limit_a
        return "W", limit_a * (phases or self.phases) * NOMINAL_VOLTAGE_V
