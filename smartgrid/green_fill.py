"""Step 3 of the allocation (smartgrid.allocation): admitting the sessions of a priority class and
water-filling the green power over them. Pure, as the allocation core is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from smartgrid.levels import EPSILON, lifted_level, water_level

if TYPE_CHECKING:
    from smartgrid.allocation import SessionDemand


@dataclass(slots=True)
class Work:
    """One session as an allocation works on it."""

    demand: SessionDemand
    order: int  # admission rank: priority first, then key
    site_id: str
    min_a: float
    phases: int
    ceiling_a: float
    watts_per_a: float
    volts: float  # the site's voltage (per phase)
    floor_a: float = 0.0  # drawn whatever the sun does
    green_cap_a: float = 0.0  # the ceiling of the green share (site room included)
    green_a: float = 0.0
    limit_a: float = 0.0
    paused: bool = False


def fill_floors(members: list[Work], budget_w: float) -> float:
    """Green water-filled over sessions whose floor is all they draw (fast, priority): each takes green up
    to its floor, the grid gives the rest of it; returns the green power left over."""
    for w in members:
        w.green_cap_a = w.floor_a
    if budget_w <= EPSILON:
        return budget_w
    level = water_level(((w.watts_per_a, w.green_cap_a) for w in members), budget_w)
    spent = 0.0
    for w in members:
        w.green_a = min(w.green_cap_a, level)
        spent += w.green_a * w.watts_per_a
    return max(0.0, budget_w - spent)


def fill_class(members: list[Work], budget_w: float, room: dict[str, float]) -> float:
    """Admit and water-fill one priority class; returns the green power left over."""
    admitted = _admit(members, budget_w, room)
    _cap_by_site(admitted, room)
    _fill_admitted(admitted, budget_w)
    spent = 0.0
    for w in admitted:
        green = w.green_a
        spent += green * w.watts_per_a
        if green > w.floor_a:
            room[w.site_id] = room.get(w.site_id, 0.0) - (green - w.floor_a)
    return max(0.0, budget_w - spent)


def _plan_cap(w: Work) -> float:
    """The green share a session gets before any other's share passes the plan's: the plan's current for
    it now (at least its minimum: it was admitted), or its whole cap when the plan does not know it."""
    planned = w.demand.planned_a
    if planned is None:
        return w.green_cap_a
    return min(w.green_cap_a, max(w.min_a, planned))


def _fill_admitted(admitted: list[Work], budget_w: float) -> None:
    """Water-fill the green over the admitted sessions of a class.

    The green covers the floors first (a floor is drawn whatever the sun does: green given elsewhere while
    a floor draws from the grid is grid energy the site did not need), then rises max-min fair above them.
    With a plan, it rises first only up to what the plan gives each session now, then max-min fair above
    that: the sessions the plan gives the sun keep it when there is less than planned.
    """
    bases = [min(w.floor_a, w.green_cap_a) for w in admitted]
    if any(w.demand.planned_a is not None for w in admitted):
        firsts = [max(base, _plan_cap(w)) for w, base in zip(admitted, bases, strict=True)]
        level = lifted_level(
            ((w.watts_per_a, base, first) for w, base, first in zip(admitted, bases, firsts, strict=True)), budget_w
        )
        bases = [max(base, first if first < level else level) for base, first in zip(bases, firsts, strict=True)]
    level = lifted_level(
        ((w.watts_per_a, base, w.green_cap_a) for w, base in zip(admitted, bases, strict=True)), budget_w
    )
    for w, base in zip(admitted, bases, strict=True):
        w.green_a = max(base, w.green_cap_a if w.green_cap_a < level else level)


def _admit(members: list[Work], budget_w: float, room: dict[str, float]) -> list[Work]:
    """The sessions of a class that charge: those with a floor, then the others while every admitted one can
    still get its minimum (the rest are paused)."""
    # admission: sessions with a floor are in; the others while every admitted one can still get its minimum
    admitted: list[Work] = [w for w in members if w.floor_a > 0]
    admission_room = dict(room)
    top_min = 0.0  # the highest minimum among admitted floorless sessions: the level must reach it
    need_at: dict[float, float] = {}  # green needed to lift every admitted session to a level
    floorless = [w for w in members if w.floor_a <= 0]
    # the least any candidate can add (one phase at the lowest minimum): once even that does not fit, stop
    least_w = min((w.volts * w.min_a for w in floorless), default=0.0)
    limit_w = budget_w + EPSILON
    for index, w in enumerate(floorless):
        minimum = w.min_a
        site_id = w.site_id
        if admission_room.get(site_id, 0.0) < minimum - EPSILON:
            w.paused = True
            continue
        level = top_min if top_min > minimum else minimum
        need = need_at.get(level)
        if need is None:
            need = need_at[level] = sum(
                a.watts_per_a * max(a.floor_a, a.ceiling_a if a.ceiling_a < level else level) for a in admitted
            )
        if need + least_w > limit_w:
            for rest in floorless[index:]:
                rest.paused = True
            break
        reach = w.ceiling_a if w.ceiling_a < level else level
        if need + w.watts_per_a * reach > limit_w:
            # phase switching: what three phases cannot start, one phase may
            if not (w.demand.phase_switching and w.phases == 3) or need + w.volts * reach > limit_w:
                w.paused = True
                continue
            w.phases, w.watts_per_a = 1, w.volts
        admitted.append(w)
        top_min = level
        for known in need_at:
            need_at[known] += w.watts_per_a * (w.ceiling_a if w.ceiling_a < known else known)
        admission_room[site_id] -= minimum
    return admitted


def _cap_by_site(admitted: list[Work], room: dict[str, float]) -> None:
    """Each session's green cap: its ceiling, or the level at which its site is full."""
    # site room caps each session's green share: per site, the level at which the site is full
    by_site: dict[str, list[Work]] = {}
    for w in admitted:
        w.green_cap_a = w.ceiling_a
        at_site = by_site.get(w.site_id)
        if at_site is None:
            by_site[w.site_id] = [w]
        else:
            at_site.append(w)
    for site_id, at_site in by_site.items():
        # what the site can carry for these sessions: its free room plus their floors
        carry = room.get(site_id, 0.0) + sum(w.floor_a for w in at_site)
        if sum(w.ceiling_a for w in at_site) <= carry:
            continue  # room for every ceiling
        level_a = lifted_level(((1.0, w.floor_a, w.ceiling_a) for w in at_site), carry)
        for w in at_site:
            w.green_cap_a = min(w.ceiling_a, max(w.floor_a, level_a))
