"""The allocation core's `priority` mode (OCPP 2.1 priority charging): served first, up to its maximum, from
green then grid, within the site's limit; and the scheduler's handing of it to the planner."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chargepoints.events import TransactionStarted
from smartgrid.allocation import SessionDemand, Site, Snapshot, allocate
from smartgrid.ports import ChargerSpec
from smartgrid.scheduler import Scheduler

V = 230.0
W3 = 3 * V


def session(key: str, site: str = "s", **kw: Any) -> SessionDemand:
    return SessionDemand(key=key, charge_point_id=key, connector_id=1, site_id=site, **kw)


def run(green_w: float, sessions: list[SessionDemand], limit_a: float = 100.0):  # type: ignore[no-untyped-def]
    return allocate(Snapshot(green_w, {"s": Site("s", limit_a)}, sessions))


def test_priority_takes_its_maximum_from_green_first_then_grid() -> None:
    points = run(5 * W3, [session("p", mode="priority"), session("g")])
    assert points["p"].limit_a == pytest.approx(16.0)
    assert points["p"].green_w == pytest.approx(5 * W3)
    assert points["p"].grid_w == pytest.approx(11 * W3)
    assert points["g"].limit_a == 0.0  # the green went to the priority session


def test_priority_counts_the_green_before_a_higher_priority_number_and_before_fast() -> None:
    sessions = [session("g", priority=10), session("f", mode="fast"), session("p", mode="priority")]
    points = run(20 * W3, sessions)
    assert points["p"].limit_a == pytest.approx(16.0)
    assert points["p"].green_w == pytest.approx(16 * W3)
    assert points["f"].limit_a == pytest.approx(16.0)  # fast: its maximum, green left over after green sessions
    assert points["g"].limit_a == 0.0  # 4 A of green left: below its minimum
    assert points["f"].green_w == pytest.approx(4 * W3)


def test_a_full_site_cuts_every_other_floor_before_priority() -> None:
    sessions = [
        session("f", mode="fast"),
        session("d", mode="departure", energy_needed_wh=40 * W3, time_left_s=3600.0),
        session("p", mode="priority", priority=0),
        session("m", mode="green_min", priority=50),
    ]
    points = run(0.0, sessions, limit_a=24.0)
    assert points["p"].limit_a == pytest.approx(16.0)
    assert points["d"].limit_a == pytest.approx(8.0)
    assert points["f"].limit_a == 0.0
    assert points["m"].limit_a == 0.0
    assert sum(p.limit_a for p in points.values()) <= 24.0 + 1e-9


def test_priority_stays_within_the_site_and_its_evs_draw() -> None:
    assert run(0.0, [session("p", mode="priority")], limit_a=10.0)["p"].limit_a == pytest.approx(10.0)
    # an EV drawing clearly less than offered: the unused offer goes back, as for any session
    drawing = session("p", mode="priority", drawn_current_a=7.0, offered_current_a=16.0)
    assert run(0.0, [drawing])["p"].limit_a == pytest.approx(8.0)
    # two priority sessions on a small site: the later admitted one is cut first
    two = run(0.0, [session("p2", mode="priority"), session("p1", mode="priority")], limit_a=20.0)
    assert (two["p1"].limit_a, two["p2"].limit_a) == (pytest.approx(16.0), 0.0)


def test_deactivated_priority_is_its_mode_again() -> None:
    assert run(0.0, [session("p", mode="green")])["p"].limit_a == 0.0
    assert run(0.0, [session("p", mode="priority")])["p"].limit_a == pytest.approx(16.0)


modes = st.sampled_from(["green", "green_min", "fast", "departure", "priority"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(modes, st.integers(0, 3), st.floats(6.0, 32.0)), min_size=1, max_size=8),
    st.floats(0.0, 60 * W3),
    st.floats(0.0, 80.0),
)
def test_priority_sessions_get_their_ceiling_whenever_the_site_can_carry_them(
    specs: list[tuple[str, int, float]], green_w: float, limit_a: float
) -> None:
    sessions = [
        session(
            f"k{i}",
            mode=mode,
            priority=priority,
            max_current_a=ceiling,
            energy_needed_wh=10 * W3 if mode == "departure" else None,
            time_left_s=3600.0 if mode == "departure" else None,
        )
        for i, (mode, priority, ceiling) in enumerate(specs)
    ]
    points = run(green_w, sessions, limit_a=limit_a)
    assert sum(p.limit_a for p in points.values()) <= limit_a + 1e-6  # the site limit holds
    for p in points.values():
        assert p.green_w <= p.power_w + 1e-6
    assert sum(p.green_w for p in points.values()) <= green_w + 1e-6
    first = [s for s in sessions if s.mode == "priority"]
    if sum(s.max_current_a for s in first) <= limit_a:
        for s in first:
            assert points[s.key].limit_a == pytest.approx(s.max_current_a)
    # no one else's green comes before a priority session's ceiling is green
    short = [s for s in first if points[s.key].green_w < points[s.key].power_w - 1e-6]
    if short:
        assert all(points[s.key].green_w <= 1e-6 for s in sessions if s.mode != "priority")


async def test_the_planner_sees_a_priority_session_as_fast() -> None:
    now = 0.0

    async def send(cp: str, connector: int, limit_a: float, tx: int | None) -> None:
        return None

    async def publish(site_id: str, allocation: dict[str, Any]) -> None:
        return None

    scheduler = Scheduler(
        sites={"s": Site("s", 63.0)},
        chargers={"A": ChargerSpec("s")},
        green_power_w=lambda: 0.0,
        send_limit=send,
        publish_allocation=publish,
        clock=lambda: now,
    )
    await scheduler.on_event(TransactionStarted("A", 1, 1, "TAG", 0.0, datetime(2026, 6, 1, tzinfo=UTC)))
    assert scheduler.set_mode("A", 1, "priority")
    (planned,) = scheduler.plan_sessions(0.0, 3600.0)
    assert planned.mode == "fast"
    points = await scheduler.run_once()
    assert points["A/1"].limit_a == pytest.approx(16.0)
    await asyncio.sleep(0)
