"""What the scheduler is given: each charger's electrical spec, and the ports it acts through (pure types)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ChargerSpec:
    site_id: str
    phases: int = 3
    min_current_a: float = 6.0
    max_current_a: float = 16.0
    phase_switching: bool = False  # the charger can switch between 1 and 3 phases


class SendLimit(Protocol):
    async def __call__(
        self, charge_point_id: str, connector_id: int, limit_a: float, transaction_id: int | None, /
    ) -> None: ...


class PublishAllocation(Protocol):
    async def __call__(self, site_id: str, allocation: dict[str, Any]) -> None: ...


class SwitchPhases(Protocol):
    async def __call__(self, charge_point_id: str, connector_id: int, phases: int, /) -> None: ...
