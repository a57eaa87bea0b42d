"""The green ledger: each session's energy split into green and grid as it is metered (pure).

Two views, both pure: GreenLedger splits each meter increment as it arrives
(the live view the gateway uses); split_interval / CooperativeLedger split
whole intervals and attribute the green back to parks and members pro rata to
what each generated (the cooperative report).

No I/O, no clock: energy increments and the live solar power are handed in.
Each increment of a session's energy register is green in the proportion of
the cooperative's live solar power to the total power drawn by all EVs at that
moment, min(1, solar / EVs) — the cooperative pools its generation, so every
charging EV gets the same green share at a given instant.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Live:
    charge_point_id: str
    connector_id: int
    last_energy_wh: float
    power_w: float = 0.0
    green_wh: float = 0.0
    energy_wh: float = 0.0


@dataclass(slots=True)
class GreenLedger:
    live: dict[int, _Live] = field(default_factory=dict)
    _ev_power_w: float = 0.0

    def ev_power_w(self) -> float:
        """The power all charging EVs draw now (kept as a running total)."""
        return max(0.0, self._ev_power_w)

    def ev_power_w_of(self, charge_point_ids: Collection[str]) -> float:
        """The power the EVs at these chargers draw now."""
        return sum(s.power_w for s in self.live.values() if s.charge_point_id in charge_point_ids)

    def green_wh(self, transaction_id: int) -> float | None:
        session = self.live.get(transaction_id)
        return session.green_wh if session else None

    def start(self, transaction_id: int, charge_point_id: str, connector_id: int, meter_start_wh: float) -> None:
        self.live[transaction_id] = _Live(charge_point_id, connector_id, meter_start_wh)

    def _share(self, solar_w: float, ev_w: float) -> float:
        return 1.0 if ev_w <= 0 else min(1.0, max(0.0, solar_w) / ev_w)

    def meter(
        self, transaction_id: int | None, energy_wh: float | None, power_w: float | None, solar_w: float
    ) -> float:
        """A meter reading of a running session; returns the energy it adds (Wh, 0 for none)."""
        session = self.live.get(transaction_id) if transaction_id is not None else None
        if session is None:
            return 0.0
        if power_w is not None:
            new = max(0.0, power_w)
            self._ev_power_w += new - session.power_w
            session.power_w = new
        added = 0.0
        if energy_wh is not None:
            delta = energy_wh - session.last_energy_wh
            if delta > 0:
                session.green_wh += delta * self._share(solar_w, self.ev_power_w())
                session.energy_wh += delta
                added = delta
            session.last_energy_wh = energy_wh
        return added

    def stop(self, transaction_id: int, meter_stop_wh: float, solar_w: float) -> float | None:
        """Close a session; returns its green energy (Wh), None if it was never seen."""
        session = self.live.pop(transaction_id, None)
        if session is None:
            return None
        delta = meter_stop_wh - session.last_energy_wh
        if delta > 0:
            session.green_wh += delta * self._share(solar_w, self.ev_power_w())
        self._ev_power_w -= session.power_w
        if not self.live:
            self._ev_power_w = 0.0  # no drift from float sums
        return session.green_wh


# -- per-interval accounting, attributed to parks and members ------------------------------------


def _clean(value: float) -> float:
    return value if value > 0 and value != float("inf") else 0.0  # NaN, negative and inf count as nothing


@dataclass(frozen=True, slots=True)
class IntervalSplit:
    """One interval's EV energy split into green and grid, and where the green came from."""

    green_wh: dict[str, float]  # per session
    grid_wh: dict[str, float]  # per session
    park_wh: dict[str, float]  # green energy into EVs, per park
    member_wh: dict[str, float]  # green energy into EVs, per member (owner of the parks)
    unused_wh: float  # generation no EV took


def split_interval(
    session_wh: Mapping[str, float], park_wh: Mapping[str, float], park_member: Mapping[str, str]
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
