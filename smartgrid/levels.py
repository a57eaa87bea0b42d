"""The levels the allocation fills to (pure): the green water level across sessions, the same from each
session's own base (its floor, or its planned share), and the level at which a site is full (the same with
weight 1)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from operator import itemgetter

EPSILON = 1e-9
_AT = itemgetter(0)


def water_level(items: Iterable[tuple[float, float]], budget_w: float) -> float:
    """The level L such that sum(weight * min(cap, L)) == budget (inf if every cap is reached).

    items are (watts per ampere, cap in amperes).
    """
    ordered = sorted(items, key=lambda item: item[1])
    remaining_weight = sum(weight for weight, _ in ordered)
    spent = 0.0
    for weight, cap in ordered:
        if remaining_weight <= EPSILON:
            break
        level = (budget_w - spent) / remaining_weight
        if level <= cap:
            return max(0.0, level)
        spent += weight * cap
        remaining_weight -= weight
    return math.inf


def lifted_level(items: Iterable[tuple[float, float, float]], budget_w: float) -> float:
    """The level L with sum(weight * max(base, min(cap, L))) == budget (inf if every cap is reached), over
    (watts per ampere, base, cap) with base <= cap: each item holds its base and rises from it to its cap."""
    total = 0.0
    slope = 0.0  # of the items rising from 0 (most of them): no event where they start
    events: list[tuple[float, float]] = []
    add = events.append
    for weight, base, cap in items:
        if cap > base:
            if base > 0:
                total += weight * base
                add((base, weight))
            else:
                slope += weight
            add((cap, -weight))
        else:
            total += weight * base
    if total >= budget_w:
        return 0.0
    events.sort(key=_AT)  # by level alone: comparing floats, not tuples
    level = 0.0
    for at, change in events:
        if slope > EPSILON and total + slope * (at - level) >= budget_w:
            return level + (budget_w - total) / slope
        total += slope * (at - level)
        level = at
        slope += change
    return math.inf
