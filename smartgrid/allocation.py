"""The allocation core: a pure function from a snapshot to per-connector current limits.

Rules of this module: no asyncio, no clock reads, no globals, no I/O. Time,
when it matters, is in the snapshot (a departure is "seconds left", not a
date). Hysteresis lives outside (smartgrid.hysteresis) and reaches the core as
two flags per session, `enabled` and `hold_on`. Everything here is tested
without an event loop.

Algorithm (one pass per call, O(n log n) in the number of sessions):
1. Every session's ceiling is its charger maximum, lowered to what the EV
   actually draws (plus a margin) when it draws clearly less than offered, so
   unused offers go to others.
2. Floors — current drawn whatever the sun does: `fast` and `priority` want their ceiling,
   `green_min` and a session held on by hysteresis their minimum, `departure`
   the steady current that still meets its energy by the deadline after the
   green it can expect. Floors are fitted into each site's limit first: holds
   cut first, then green_min, fast, departure floors (the plan with the least
   slack last of these) and `priority` floors last of all, each group in
   reverse admission order.
3. Green power is water-filled, max-min fair by priority: the highest
   priority class is served first; within a class the green covers the
   floors first (a floor is drawn anyway: green shared past it would be grid
   drawn for it), then every session rises at the same level (amperes per
   phase) until it reaches its ceiling, its site is full, or the green power
   runs out. With a plan, the sessions first rise only to the plan's current
   for them in this slot (at least their minimum), then max-min above that.
   Sessions that would need green to reach their minimum are admitted while
   the green power and their site's room can still give every admitted
   session its minimum (floors included), tight departure plans first
   (soonest deadline first), then those the plan gives the most now, then the
   others in key order; the others are paused (0 A) and the admitted share
   their part. `fast` sessions only count the green left over after everyone
   else.
4. Phase switching: a session on a charger that can switch and that stays
   paused at three phases is tried again on one phase (a third of the power
   for the same current) — it can then start on less sun.
5. Site limits, as a last safety net: the sum of per-phase currents at a site
   never exceeds its grid limit minus its other load; sessions over it are
   trimmed, last admitted first, to their minimum or to 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter

from smartgrid.green_fill import Work, fill_class, fill_floors
from smartgrid.levels import EPSILON

MODES = ("green", "green_min", "fast", "departure", "priority")
DRAW_MARGIN_A = 1.0  # offered above what the EV draws, so that it can ramp up


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
    # departure targets (mode "departure"): energy still wanted, seconds until the driver leaves,
    # and the green energy this session can expect before then (from a forecast; 0 = none expected)
    energy_needed_wh: float | None = None
    time_left_s: float | None = None
    expected_green_wh: float = 0.0
    # the planner's grid current for this moment (smartgrid.planner via the scheduler): when given, it is the
    # departure floor instead of the steady current above (0: green only for now, the plan buys later)
    planned_grid_a: float | None = None
    # the plan's current for this session in this slot, green and grid (None: no plan for it): when the sun
    # cannot start every session, those the plan gives the most now are admitted first
    planned_a: float | None = None
    # the charger can switch between 1 and 3 phases (phases above is then the current wiring, 1 or 3)
    phase_switching: bool = False
    # the limit the charger was last given (None: unknown); with drawn_current_a it tells an unused offer
    offered_current_a: float | None = None
    # hysteresis, decided outside: held on at least at the minimum; not enabled yet
    hold_on: bool = False
    enabled: bool = True


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


_BY_KEY = attrgetter("key")
_BY_PRIORITY = attrgetter("priority")


def _ceiling(demand: SessionDemand) -> float:
    ceiling = max(0.0, demand.max_current_a)
    drawn = demand.drawn_current_a
    # an EV that takes all it was offered may want more: only an offer it leaves unused is reclaimed
    offered = demand.offered_current_a
    compared = ceiling if offered is None else min(ceiling, offered)
    if drawn is not None and drawn + DRAW_MARGIN_A < compared:
        ceiling = min(ceiling, max(demand.min_current_a, drawn + DRAW_MARGIN_A))
    return ceiling


# A paused departure plan starts drawing from the grid only once the energy still wanted from it reaches
# this share of what the charger could deliver at its ceiling in the time left: until then the sun may still
# do it, and the grid keeps a margin of (1 - share) for a site that fills up near the deadline. A plan that
# is charging keeps its steady grid floor (no start-stop around the threshold).
GRID_DEFER_SHARE = 0.5


def departure_current_a(demand: SessionDemand, phases: int, voltage_v: float, ceiling_a: float) -> float:
    """The steady grid current that still delivers the wanted energy by the departure; 0 while green may."""
    needed = demand.energy_needed_wh
    if needed is None or needed <= 0:
        return 0.0
    planned = demand.planned_grid_a
    if planned is not None:
        return 0.0 if planned <= EPSILON else min(ceiling_a, max(demand.min_current_a, planned))
    from_grid_wh = needed - max(0.0, demand.expected_green_wh)
    left_s = demand.time_left_s
    if left_s is None or left_s <= 0:
        return ceiling_a  # late or unknown deadline: as fast as allowed
    if from_grid_wh <= 0:
        return 0.0
    if (
        not demand.offered_current_a
        and from_grid_wh < GRID_DEFER_SHARE * ceiling_a * phases * voltage_v * left_s / 3600
    ):
        return 0.0  # paused: wait for the sun while the grid could still deliver this later, with a margin
    current = from_grid_wh * 3600.0 / left_s / (phases * voltage_v)
    if current <= EPSILON:
        return 0.0
    return min(ceiling_a, max(demand.min_current_a, current))


# A departure plan is tight once the energy it still wants passes this share of what its charger could
# deliver at its maximum in the time left. When the sun cannot start every session, the tight ones are
# admitted first, soonest deadline first: green they miss now is grid later (equal shares had them draw
# from the grid under a passing cloud while sessions with hours of slack took the sun).
TIGHT_SHARE = 0.4


def _deadline_rank(demand: SessionDemand, sites: Mapping[str, Site], default_volts: float) -> float:
    """The seconds left of a tight departure plan; inf for every other session."""
    left, needed = demand.time_left_s, demand.energy_needed_wh
    if left is None or needed is None or left <= 0 or needed <= 0:
        return math.inf
    site = sites.get(demand.site_id)
    volts = site.voltage_v if site is not None else default_volts
    full_wh = demand.max_current_a * demand.phases * volts * left / 3600.0
    return left if needed > TIGHT_SHARE * full_wh else math.inf


def _plan_rank(demand: SessionDemand) -> float:
    """Admission within a deadline rank: the sessions the plan gives the most now first, then the sessions
    without a plan, then those the plan gives nothing now (they get the sun later, or the grid)."""
    planned = demand.planned_a
    if planned is None:
        return 0.0
    return -planned if planned > EPSILON else 1.0


def _site_capacity(site: Site | None) -> float:
    return max(0.0, site.grid_limit_a - site.base_load_a) if site is not None else 0.0


# Which floors a full site cuts first: a hysteresis hold, then green_min's minimum, then fast sessions,
# then departure plans (they have a deadline), and priority charging last (the driver asked for it now).
_FLOOR_RANK = {"green": 0, "green_min": 1, "fast": 2, "departure": 3, "priority": 4}


def _floor_cut_order(w: Work) -> tuple[int, float, int]:
    # departure plans: the one closest to needing its maximum (the least slack) is cut last
    urgency = w.floor_a / w.ceiling_a if w.demand.mode == "departure" and w.ceiling_a > 0 else 0.0
    return _FLOOR_RANK[w.demand.mode], urgency, -w.order


def _trim(members: list[Work], excess: float, *, floors: bool) -> None:
    """Cut a site's excess current, each to its minimum or to 0: last admitted first (floors: least urgent first)."""
    order = sorted(members, key=_floor_cut_order) if floors else list(reversed(members))
    for w in order:
        if excess <= EPSILON:
            return
        current = w.floor_a if floors else w.limit_a
        if w.paused or current <= 0:
            continue
        reducible = current - w.min_a
        if reducible >= excess - EPSILON:
            current -= excess
            excess = 0.0
        else:
            excess -= current
            current = 0.0
        if floors:
            w.floor_a = current
            w.paused = current <= 0
        else:
            w.limit_a = current
            w.green_a = min(w.green_a, current)


def _solve(work: list[Work], snapshot: Snapshot, green_w: float) -> None:
    by_site: dict[str, list[Work]] = {}  # each list in admission order
    for w in work:
        members = by_site.get(w.site_id)
        if members is None:
            by_site[w.site_id] = [w]
        else:
            members.append(w)
    capacity = {site_id: _site_capacity(snapshot.sites.get(site_id)) for site_id in by_site}
    room: dict[str, float] = {}

    # 2. floors, fitted into each site (last admitted cut first)
    for site_id, members in by_site.items():
        floors = sum(w.floor_a for w in members if not w.paused)
        if floors > capacity[site_id] + EPSILON:
            _trim(members, floors - capacity[site_id], floors=True)
            floors = sum(w.floor_a for w in members if not w.paused)
        room[site_id] = capacity[site_id] - floors

    # 3. green, class by class (work is in admission order, so each class is too)
    budget = green_w
    classes: dict[int, list[Work]] = {}
    fast: list[Work] = []
    first: list[Work] = []  # priority charging: the green goes to them before any class
    for w in work:
        if w.paused:
            continue
        mode = w.demand.mode
        if mode == "fast":
            fast.append(w)
        elif mode == "priority":
            first.append(w)
        else:
            classes.setdefault(w.demand.priority, []).append(w)
    if first:
        budget = fill_floors(first, budget)
    for priority in sorted(classes, reverse=True):
        budget = fill_class(classes[priority], budget, room)
    if fast:
        fill_floors(fast, budget)

    # limits within [min, max] or 0
    for w in work:
        if w.paused:
            w.limit_a = w.green_a = 0.0
            continue
        limit = w.floor_a if w.floor_a > w.green_a else w.green_a
        limit = min(limit, w.ceiling_a)
        if limit < w.min_a - EPSILON:
            w.limit_a = w.green_a = 0.0
        else:
            w.limit_a = limit
            w.green_a = min(w.green_a, limit)

    # 5. site limits, the safety net
    for site_id, members in by_site.items():
        total = sum(w.limit_a for w in members)
        if total > capacity[site_id] + EPSILON:
            _trim(members, total - capacity[site_id], floors=False)


def _prepare(snapshot: Snapshot) -> list[Work]:
    sites, default_volts = snapshot.sites, snapshot.voltage_v
    # admission order: priority (highest first); within it, the departure plans that are tight, soonest
    # deadline first, then every other session by key
    ranked = sorted(snapshot.sessions, key=_BY_KEY)
    if any(d.planned_a is not None for d in ranked):
        ranked.sort(key=lambda d: (_deadline_rank(d, sites, default_volts), _plan_rank(d)))
    else:
        ranked.sort(key=lambda d: _deadline_rank(d, sites, default_volts))
    ranked.sort(key=_BY_PRIORITY, reverse=True)
    if any(d.mode == "priority" for d in ranked):  # priority charging before everyone, in that order
        ranked = [d for d in ranked if d.mode == "priority"] + [d for d in ranked if d.mode != "priority"]
    work: list[Work] = []
    for order, demand in enumerate(ranked):
        mode = demand.mode
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} for {demand.key}")
        phases = 3 if demand.phase_switching else demand.phases
        ceiling = _ceiling(demand)
        minimum = demand.min_current_a
        site = sites.get(demand.site_id)
        volts = site.voltage_v if site is not None else default_volts
        entry = Work(demand, order, demand.site_id, minimum, phases, ceiling, phases * volts, volts)
        if ceiling < minimum - EPSILON or not demand.enabled:
            entry.paused = True  # cannot even take its minimum, or not enabled yet
        elif mode in ("fast", "priority"):
            entry.floor_a = ceiling
        elif mode == "green_min":
            entry.floor_a = minimum
        elif mode == "departure":
            entry.floor_a = departure_current_a(demand, phases, volts, ceiling)
        if demand.hold_on and not entry.paused and entry.floor_a < minimum:
            entry.floor_a = minimum
        work.append(entry)
    return work


_NEW = object.__new__
_KEY, _CP, _CONN, _SITE, _LIMIT, _PHASES, _POWER, _GREEN, _GRID = (
    getattr(Setpoint, name).__set__ for name in Setpoint.__slots__
)


def _setpoint(
    key: str,
    charge_point_id: str,
    connector_id: int,
    site_id: str,
    limit_a: float,
    phases: int,
    power_w: float,
    green_w: float,
    grid_w: float,
) -> Setpoint:
    """Setpoint(...) at about half the cost: a frozen dataclass's __init__ goes through
    object.__setattr__ once per field, which dominates allocate() at 10,000 sessions."""
    point: Setpoint = _NEW(Setpoint)
    _KEY(point, key)
    _CP(point, charge_point_id)
    _CONN(point, connector_id)
    _SITE(point, site_id)
    _LIMIT(point, limit_a)
    _PHASES(point, phases)
    _POWER(point, power_w)
    _GREEN(point, green_w)
    _GRID(point, grid_w)
    return point


def allocate(snapshot: Snapshot) -> dict[str, Setpoint]:
    """Each session's current limit (0, or within [min, max]) and its green/grid split."""
    raw_green = snapshot.green_power_w
    green_w = raw_green if math.isfinite(raw_green) and raw_green > 0 else 0.0  # NaN or negative: none
    work = _prepare(snapshot)
    _solve(work, snapshot, green_w)

    # green/grid split: green as allocated, never more than the limit nor the green power
    setpoints: dict[str, Setpoint] = {}
    green_left = green_w
    for w in work:  # admission order: the first admitted are the first to count their green
        limit = w.limit_a
        power = limit * w.watts_per_a
        if limit > 0:
            green = min(power, w.green_a * w.watts_per_a, green_left)
            green_left -= green
        else:
            green = 0.0
        d = w.demand
        setpoints[d.key] = _setpoint(
            d.key, d.charge_point_id, d.connector_id, d.site_id, limit, w.phases, power, green, power - green
        )
    return setpoints
