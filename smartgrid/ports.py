"""What the scheduler is given: each charger's electrical spec, and the ports it acts through (pure types)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ChargerSpec:
    site_id: str
    phases: int = 3
    min_current_a: float = 6.0
    max_current_a: float = 16.0
    phase_switching: bool = False  # the charger can switch between 1 and 3 phases


@dataclass(frozen=True, slots=True)
class EVRange:
    """What the EV itself takes, as it told its station (ISO 15118 charging needs): the session's own floor and
    ceiling, next to its charger's. AC currents per phase; powers over the phases it charges on."""

    min_current_a: float = 0.0
    max_current_a: float = math.inf
    min_power_w: float = 0.0
    max_power_w: float = math.inf
    energy_wh: float | None = None  # what the EV wants in this session (for the planner when no target is set)

    def bounds_a(self, spec: ChargerSpec, phases: int, volts: float) -> tuple[float, float]:
        """(floor, ceiling) per phase on `phases` phases: the charger's range narrowed to the EV's. A floor above
        the ceiling means the session cannot charge there (the allocation pauses it)."""
        per_w = phases * volts
        floor = max(spec.min_current_a, self.min_current_a, self.min_power_w / per_w)
        ceiling = min(spec.max_current_a, self.max_current_a, self.max_power_w / per_w)
        return floor, max(0.0, ceiling)


def session_bounds_a(spec: ChargerSpec, ev: EVRange | None, phases: int, volts: float) -> tuple[float, float]:
    """A session's (floor, ceiling) per phase: its charger's, within its EV's when the EV told its range."""
    if ev is None:
        return spec.min_current_a, spec.max_current_a
    return ev.bounds_a(spec, phases, volts)


class SendLimit(Protocol):
    async def __call__(
        self, charge_point_id: str, connector_id: int, limit_a: float, transaction_id: int | None, /
    ) -> None: ...


class PublishAllocation(Protocol):
    async def __call__(self, site_id: str, allocation: dict[str, Any]) -> None: ...


class SwitchPhases(Protocol):
    async def __call__(self, charge_point_id: str, connector_id: int, phases: int, /) -> None: ...
