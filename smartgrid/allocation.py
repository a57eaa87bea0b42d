"""The allocation core: a pure function from a snapshot to per-connector current limits.

Rules of this module: no asyncio, no clock reads, no globals, no I/O. Time,
when it matters, is in the snapshot. Everything here is tested without an
event loop.

Algorithm (one pass per call):
1. Every session's ceiling is its charger maximum, lowered to what the EV
   actually draws (plus a margin) when it draws clearly less than offered, so
   unused offers go to others.
2. Sessions that must charge from the grid (`fast`, and the minimum of
   `green_min`) get their grid share first.
3. Green power is water-filled, max-min fair by priority: the highest
   priority class is served first; within a class every session rises at the
   same rate (in amperes per phase-weighted watt) until it reaches its ceiling
   or the green power runs out. A session whose fair share stays below its
   minimum current is paused (0 A) and the others share its part, admitted in
   priority and then key order, so the result is deterministic.
4. Site limits: the sum of per-phase currents at a site never exceeds its
   grid connection limit minus its other load; sessions over it are trimmed,
   lowest priority first, to 0 or to at least their minimum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MODES = ("green", "green_min", "fast")
DRAW_MARGIN_A = 1.0  # offered above what the EV draws, so that it can ramp up
EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class SessionDemand:
    key: str
    charge_point_id: str
    connector_id: int
    site_id: str
    phases: int = 3
    min_current_a: float = 6.0
    max_current_a: float = 16.0
    drawn_current_a: float | None = None
    mode: str = "green"
    priority: int = 0


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    grid_limit_a: float
    base_load_a: float = 0.0
    voltage_v: float = 230.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    green_power_w: float
    sites: Mapping[str, Site]
    sessions: Sequence[SessionDemand]
    voltage_v: float = 230.0


@dataclass(frozen=True, slots=True)
class Setpoint:
    key: str
    charge_point_id: str
    connector_id: int
    site_id: str
    limit_a: float
    phases: int
    power_w: float
    green_w: float
    grid_w: float


@dataclass(slots=True)
class _Work:
    demand: SessionDemand
    ceiling_a: float
    watts_per_a: float
    guaranteed_a: float = 0.0  # drawn whatever the sun does: min for green_min, all for fast
    limit_a: float = 0.0
    green_a: float = 0.0
    paused: bool = False


def _ceiling(demand: SessionDemand) -> float:
    ceiling = max(0.0, demand.max_current_a)
    drawn = demand.drawn_current_a
    if drawn is not None and drawn + DRAW_MARGIN_A < ceiling:
        ceiling = min(ceiling, max(demand.min_current_a, drawn + DRAW_MARGIN_A))
    return ceiling


def _fill(work: list[_Work], budget_w: float) -> float:
    """Raise every session's green current equally (per phase) until ceilings or the budget; returns leftover W."""
    active = [w for w in work if not w.paused and w.green_a < w.ceiling_a - EPSILON]
    while active and budget_w > EPSILON:
        weight = sum(w.watts_per_a for w in active)
        step = min(budget_w / weight, *(w.ceiling_a - w.green_a for w in active))
        for w in active:
            w.green_a += step
        budget_w -= step * weight
        active = [w for w in active if w.green_a < w.ceiling_a - EPSILON]
    return budget_w


def _allocate_green(classes: list[list[_Work]], green_w: float) -> float:
    """Max-min fair water-filling by priority class; green sessions below their minimum are paused.

    Returns the green power left over.
    """
    budget = green_w
    for members in classes:
        while True:
            for w in members:
                w.green_a = 0.0
            leftover = _fill(members, budget)
            short = [
                w
                for w in members
                if not w.paused and w.guaranteed_a <= 0 and w.green_a < w.demand.min_current_a - EPSILON
            ]
            if not short:
                break
            # Pause the last in admission order (lowest priority, then highest key) and share again.
            victim = max(short, key=lambda w: (-w.demand.priority, w.demand.key))
            victim.paused = True
            victim.green_a = 0.0
        budget = leftover
    return budget


def allocate(snapshot: Snapshot) -> dict[str, Setpoint]:
    """Each session's current limit (0, or within [min, max]) and its green/grid split."""
    volts = snapshot.voltage_v
    work: list[_Work] = []
    for demand in sorted(snapshot.sessions, key=lambda d: d.key):
        if demand.mode not in MODES:
            raise ValueError(f"unknown mode {demand.mode!r} for {demand.key}")
        ceiling = _ceiling(demand)
        entry = _Work(demand, ceiling, watts_per_a=demand.phases * volts)
        if ceiling < demand.min_current_a - EPSILON:
            entry.paused = True  # cannot even take its minimum
        elif demand.mode == "fast":
            entry.guaranteed_a = ceiling
        elif demand.mode == "green_min":
            entry.guaranteed_a = demand.min_current_a
        work.append(entry)

    # 1. green power: solar-following sessions by priority class, leftovers to fast sessions
    raw_green = snapshot.green_power_w
    green_w = raw_green if math.isfinite(raw_green) and raw_green > 0 else 0.0  # NaN or negative: none
    following = [w for w in work if w.demand.mode != "fast"]
    priorities = sorted({w.demand.priority for w in following}, reverse=True)
    leftover = _allocate_green([[w for w in following if w.demand.priority == p] for p in priorities], green_w)
    _fill([w for w in work if w.demand.mode == "fast" and not w.paused], leftover)

    # 2. limits within [min, max] or 0
    for w in work:
        if w.paused:
            w.limit_a = 0.0
            continue
        w.limit_a = min(w.ceiling_a, max(w.guaranteed_a, w.green_a))
        if w.limit_a < w.demand.min_current_a - EPSILON:
            w.limit_a = 0.0

    # 3. site limits: trim lowest priority first, to the minimum or to 0
    for site_id in sorted({w.demand.site_id for w in work}):
        site = snapshot.sites.get(site_id)
        at_site = sorted(
            (w for w in work if w.demand.site_id == site_id), key=lambda w: (w.demand.priority, w.demand.key)
        )
        capacity = max(0.0, site.grid_limit_a - site.base_load_a) if site is not None else 0.0
        excess = sum(w.limit_a for w in at_site) - capacity
        for w in at_site:
            if excess <= EPSILON:
                break
            reducible = w.limit_a - w.demand.min_current_a
            if reducible >= excess - EPSILON:
                w.limit_a -= excess
                excess = 0.0
            else:
                excess -= w.limit_a
                w.limit_a = 0.0

    # 4. green/grid split: green as allocated, never more than the limit nor the green power
    setpoints: dict[str, Setpoint] = {}
    green_left = green_w
    for w in sorted(work, key=lambda w: (-w.demand.priority, w.demand.key)):
        power = w.limit_a * w.watts_per_a
        green = min(power, w.green_a * w.watts_per_a, green_left) if w.limit_a > 0 else 0.0
        green_left -= green
        d = w.demand
        setpoints[d.key] = Setpoint(
            key=d.key,
            charge_point_id=d.charge_point_id,
            connector_id=d.connector_id,
            site_id=d.site_id,
            limit_a=w.limit_a,
            phases=d.phases,
            power_w=round(power, 1),
            green_w=round(green, 1),
            grid_w=round(power - green, 1),
        )
    return setpoints
