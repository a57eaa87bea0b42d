"""One interval's EV energy matched with the cooperative's concurrent generation (pure), attributed to
parks and members; and running totals of such splits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _clean(value: float) -> float:
    return value if value > 0 and value != float("inf") else 0.0  # NaN, negative and inf count as nothing


@dataclass(frozen=True, slots=True)
class IntervalSplit:
    """One interval's EV energy split into green and grid, and where the green came from."""

    green_wh: dict[Any, float]  # per session (its key: a transaction id, a name)
    grid_wh: dict[Any, float]  # per session
    park_wh: dict[str, float]  # green energy into EVs, per park
    member_wh: dict[str, float]  # green energy into EVs, per member (owner of the parks)
    unused_wh: float  # generation no EV took


def split_interval(
    session_wh: Mapping[Any, float], park_wh: Mapping[str, float], park_member: Mapping[str, str]
) -> IntervalSplit:
    """Match one interval's EV energy with the cooperative's concurrent generation.

    The cooperative pools its generation: green = min(EV energy, generation);
    every session gets the same green share of its energy, and every park
    contributes in proportion to what it generated. Parks without a member are
    attributed to the member "" (the cooperative itself).
    """
    sessions = {key: _clean(wh) for key, wh in session_wh.items()}
    parks = {park: _clean(wh) for park, wh in park_wh.items()}
    ev_wh, generated_wh = sum(sessions.values()), sum(parks.values())
    green_total = min(ev_wh, generated_wh)
    session_share = green_total / ev_wh if ev_wh > 0 else 0.0
    park_share = green_total / generated_wh if generated_wh > 0 else 0.0
    green = {key: wh * session_share for key, wh in sessions.items()}
    by_park = {park: wh * park_share for park, wh in parks.items()}
    by_member: dict[str, float] = {}
    for park, wh in by_park.items():
        member = park_member.get(park, "")
        by_member[member] = by_member.get(member, 0.0) + wh
    return IntervalSplit(
        green_wh=green,
        grid_wh={key: sessions[key] - green[key] for key in sessions},
        park_wh=by_park,
        member_wh=by_member,
        unused_wh=generated_wh - green_total,
    )


@dataclass(slots=True)
class CooperativeLedger:
    """Running totals of interval splits: per session, park and member (pure; intervals are handed in)."""

    park_member: dict[str, str] = field(default_factory=dict)
    session_green_wh: dict[str, float] = field(default_factory=dict)
    session_grid_wh: dict[str, float] = field(default_factory=dict)
    park_green_wh: dict[str, float] = field(default_factory=dict)
    member_green_wh: dict[str, float] = field(default_factory=dict)
    generated_wh: float = 0.0
    unused_wh: float = 0.0

    def add(self, session_wh: Mapping[str, float], park_wh: Mapping[str, float]) -> IntervalSplit:
        split = split_interval(session_wh, park_wh, self.park_member)
        for totals, values in (
            (self.session_green_wh, split.green_wh),
            (self.session_grid_wh, split.grid_wh),
            (self.park_green_wh, split.park_wh),
            (self.member_green_wh, split.member_wh),
        ):
            for key, wh in values.items():
                totals[key] = totals.get(key, 0.0) + wh
        self.generated_wh += sum(_clean(wh) for wh in park_wh.values())
        self.unused_wh += split.unused_wh
        return split

    def green_share(self, session_key: str) -> float | None:
        green = self.session_green_wh.get(session_key, 0.0)
        total = green + self.session_grid_wh.get(session_key, 0.0)
        return green / total if total > 0 else None

    def close(self, session_key: str) -> tuple[float, float]:
        """Forget a finished session; returns its (green, grid) energy in Wh."""
        return self.session_green_wh.pop(session_key, 0.0), self.session_grid_wh.pop(session_key, 0.0)

    def report(self) -> dict[str, object]:
        ev_green = sum(self.park_green_wh.values())
        return {
            "generated_wh": round(self.generated_wh, 1),
            "green_to_evs_wh": round(ev_green, 1),
            "unused_wh": round(self.unused_wh, 1),
            "parks": {park: round(wh, 1) for park, wh in sorted(self.park_green_wh.items())},
            "members": {member: round(wh, 1) for member, wh in sorted(self.member_green_wh.items())},
        }
