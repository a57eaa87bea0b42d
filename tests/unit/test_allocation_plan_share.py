"""The allocation core: the green covers floors first, and follows the plan's share for the slot."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartgrid.allocation import SessionDemand, Site, Snapshot, allocate
from smartgrid.levels import lifted_level

V = 230.0
W3 = 3 * V


def session(key: str, **kw: object) -> SessionDemand:
    return SessionDemand(key=key, charge_point_id=key, connector_id=1, site_id="s", **kw)  # type: ignore[arg-type]


def run(green_w: float, sessions: list[SessionDemand], limit_a: float = 100.0):  # type: ignore[no-untyped-def]
    return allocate(Snapshot(green_w, {"s": Site("s", limit_a)}, sessions))


def test_a_departure_floor_is_covered_by_the_sun_before_green_sessions_share_it() -> None:
    # 12 A of sun, a departure drawing 10 A whatever the sun does, and a green session: the floor takes 10 A
    # of the sun, and the 2 A left cannot start the green session (6 A minimum): the departure takes them.
    # No grid is drawn. Sharing the sun max-min (6 A each) had the departure draw 4 A from the grid while
    # the green session took 6 A of the sun.
    due = session("a", mode="departure", energy_needed_wh=10 * W3, time_left_s=3600.0)
    points = run(12 * W3, [due, session("b")])
    assert points["a"].limit_a == pytest.approx(12.0)
    assert points["a"].grid_w == pytest.approx(0.0)
    assert points["b"].limit_a == 0.0
    # with more sun the green session gets what is left above the floor
    points = run(20 * W3, [due, session("b")])
    assert points["a"].limit_a == pytest.approx(10.0)
    assert points["b"].limit_a == pytest.approx(10.0)
    assert sum(p.grid_w for p in points.values()) == pytest.approx(0.0)


def test_the_sessions_the_plan_gives_the_sun_now_get_it_first() -> None:
    # 20 A of sun over two sessions; the plan gives "b" 14 A now and "a" nothing (its sun comes later):
    # "a" keeps its 6 A minimum (it is admitted), "b" the rest. Without a plan they share it 10 A each.
    plain = run(20 * W3, [session("a"), session("b")])
    assert plain["a"].limit_a == pytest.approx(10.0)
    assert plain["b"].limit_a == pytest.approx(10.0)
    planned = run(20 * W3, [session("a", planned_a=0.0), session("b", planned_a=14.0)])
    assert planned["a"].limit_a == pytest.approx(6.0)
    assert planned["b"].limit_a == pytest.approx(14.0)
    # more sun than planned: the rest is shared max-min above the plan's shares
    more = run(30 * W3, [session("a", planned_a=0.0), session("b", planned_a=14.0)])
    assert more["a"].limit_a == pytest.approx(15.0)
    assert more["b"].limit_a == pytest.approx(15.0)


def test_when_the_sun_starts_only_one_the_one_the_plan_gives_it_goes_first() -> None:
    # 7 A of sun: one session can start. Key order would start "a"; the plan gives the sun to "b" now.
    points = run(7 * W3, [session("a", planned_a=0.0), session("b", planned_a=7.0)])
    assert points["a"].limit_a == 0.0
    assert points["b"].limit_a == pytest.approx(7.0)


@given(
    st.lists(
        st.tuples(st.floats(1.0, 1000.0), st.floats(0.0, 32.0), st.floats(0.0, 32.0)),
        max_size=8,
    ),
    st.floats(0.0, 1e5),
)
def test_lifted_level_spends_the_budget_or_reaches_every_cap(
    items: list[tuple[float, float, float]], budget: float
) -> None:
    items = [(w, min(a, b), max(a, b)) for w, a, b in items]
    level = lifted_level(items, budget)
    spent = sum(w * max(base, min(cap, level)) for w, base, cap in items)
    floors = sum(w * base for w, base, _ in items)
    if floors >= budget:
        assert level == 0.0
    elif level == float("inf"):
        assert spent <= budget + 1e-6
    else:
        assert spent == pytest.approx(budget, rel=1e-9, abs=1e-6)
