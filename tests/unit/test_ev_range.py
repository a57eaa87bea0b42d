"""The EV's own range (ISO 15118 charging needs) in the scheduler and the planner: a session never gets more
than its EV takes, the green it leaves goes to the other sessions, and the planner plans within it."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargepoints.events import TransactionStarted
from chargepoints.iso15118 import parse_needs
from gateway.world import ev_range
from smartgrid.planner import PlanError, PlanInput, PlanSession, PlanSite, plan
from smartgrid.ports import ChargerSpec, EVRange, session_bounds_a
from smartgrid.scheduler import Scheduler
from tests.unit.test_scheduler import W_PER_A, Ports, make

T = datetime(2026, 6, 1, 12, tzinfo=UTC)


async def two_sessions(ports: Ports) -> Scheduler:
    scheduler = make(ports)
    for tx, cp in enumerate(("A", "B"), 1):
        await scheduler.on_event(TransactionStarted(cp, 1, tx, "TAG", 0.0, T))
    return scheduler


async def test_the_green_an_ev_does_not_take_goes_to_the_other_car() -> None:
    ports = Ports()
    scheduler = await two_sessions(ports)
    ports.green_w = 20 * W_PER_A
    before = await scheduler.run_once()
    assert (before["A/1"].limit_a, before["B/1"].limit_a) == (10.0, 10.0)  # shared evenly

    assert scheduler.set_ev_range("A", 1, 1, EVRange(min_current_a=6.0, max_current_a=7.0))
    points = await scheduler.run_once()
    assert points["A/1"].limit_a == 7.0  # what its EV takes, no more
    assert points["B/1"].limit_a == pytest.approx(13.0)  # the rest of the green
    assert sum(p.green_w for p in points.values()) == pytest.approx(20 * W_PER_A)
    assert ports.sent[-2:] == [("A", 1, 7.0, 1), ("B", 1, 13.0, 2)]
    # the allocation as published says it too
    [(_, allocation)] = ports.published[-1:]
    assert {(p["charge_point_id"], p["limit_a"]) for p in allocation["setpoints"]} == {("A", 7.0), ("B", 13.0)}


async def test_an_ev_power_bound_is_its_ceiling_and_its_minimum_a_floor() -> None:
    ports = Ports()
    scheduler = await two_sessions(ports)
    ports.green_w = 32 * W_PER_A
    scheduler.set_ev_range("A", 1, 1, EVRange(max_power_w=3680.0))  # 5.33 A on three phases: below 6 A
    points = await scheduler.run_once()
    assert points["A/1"].limit_a == 0.0  # it cannot charge within the charger's 6 A minimum: paused
    assert points["B/1"].limit_a == 16.0
    scheduler.set_ev_range("A", 1, 1, EVRange(min_power_w=6900.0, max_power_w=11_000.0))  # at least 10 A
    ports.green_w = 18 * W_PER_A
    points = await scheduler.run_once()
    # never below the EV's own minimum nor above its maximum (18 A cannot lift both to 10 A: B waits)
    assert 10.0 - 1e-9 <= points["A/1"].limit_a <= 11_000.0 / W_PER_A
    assert points["B/1"].limit_a == 0.0


async def test_a_departure_target_is_held_to_the_ev_ceiling_and_an_other_transaction_is_not_touched() -> None:
    ports = Ports()
    scheduler = await two_sessions(ports)
    scheduler.adopt(
        "A", 1, 1, meter_start_wh=0.0, energy_wh=0.0, mode="departure", target_wh=60_000.0, departure_s=3600.0,
        ev=EVRange(max_current_a=13.0),
    )  # fmt: skip
    points = await scheduler.run_once()  # no sun: the grid at the most the EV takes
    assert points["A/1"].limit_a == 13.0
    assert not scheduler.set_ev_range("A", 1, 99, EVRange(max_current_a=6.0))  # not its transaction
    assert not scheduler.set_ev_range("C", 1, 1, EVRange(max_current_a=6.0))


@given(
    spec_min=st.floats(0, 10),
    spec_max=st.floats(10, 64),
    ev_min=st.floats(0, 40),
    ev_max=st.floats(0, 80) | st.just(math.inf),
    power_min=st.floats(0, 30_000),
    power_max=st.floats(0, 50_000) | st.just(math.inf),
    phases=st.sampled_from([1, 3]),
)
def test_session_bounds_never_widen_the_charger_range(
    spec_min: float, spec_max: float, ev_min: float, ev_max: float, power_min: float, power_max: float, phases: int
) -> None:
    spec = ChargerSpec("s", min_current_a=spec_min, max_current_a=spec_max)
    ev = EVRange(ev_min, ev_max, power_min, power_max)
    floor, ceiling = session_bounds_a(spec, ev, phases, 230.0)
    assert spec_min <= floor
    assert 0 <= ceiling <= spec_max
    assert ceiling <= ev_max
    assert ceiling * phases * 230.0 <= power_max * (1 + 1e-12) + 1e-9  # 1e-9 W: subnormal powers round coarser
    assert session_bounds_a(spec, None, phases, 230.0) == (spec_min, spec_max)


async def test_the_planner_gets_the_ev_range_and_its_target_energy() -> None:
    ports = Ports()
    scheduler = await two_sessions(ports)
    scheduler.set_ev_range(
        "A", 1, 1, EVRange(min_current_a=8.0, max_current_a=13.0, min_power_w=4000.0, max_power_w=7400.0,
                           energy_wh=20_000.0)
    )  # fmt: skip
    by_key = {s.key: s for s in scheduler.plan_sessions(0.0, 4 * 3600.0)}
    a, b = by_key["A/1"], by_key["B/1"]
    assert (a.min_current_a, a.max_power_w, a.min_power_w) == (8.0, 7400.0, 4000.0)
    assert a.max_current_a == pytest.approx(7400.0 / W_PER_A)  # its power on three phases, below its 13 A
    assert a.energy_wh == 20_000.0  # what the EV said it wants (no departure target set)
    assert (b.min_current_a, b.max_current_a, b.max_power_w, b.min_power_w) == (6.0, 16.0, None, None)
    assert b.energy_wh == pytest.approx(16 * W_PER_A * 4)
    # an EV that cannot charge at this charger (its minimum above the charger's maximum) is planned nothing
    scheduler.set_ev_range("B", 1, 2, EVRange(min_current_a=20.0))
    b = {s.key: s for s in scheduler.plan_sessions(0.0, 3600.0)}["B/1"]
    assert (b.min_current_a, b.max_current_a) == (0.0, 0.0)


def test_the_plan_keeps_each_slot_within_the_ev_power_bounds_and_gives_the_rest_to_the_other_session() -> None:
    ev = PlanSession("A/1", "s", 20_000.0, mode="green", max_power_w=3700.0, min_power_w=2300.0)
    other = PlanSession("B/1", "s", 20_000.0, mode="green")
    problem = PlanInput(900.0, [12_000.0] * 8, {"s": PlanSite("s", 32.0)}, [ev, other], minimum_current=True)
    result = plan(problem)
    for wh in result.sessions["A/1"].energy_wh:
        assert wh <= 3700.0 * 0.25 + 1e-6  # the most per slot
        assert wh < 1e-6 or wh >= 2300.0 * 0.25 - 1e-6  # nothing, or at least its minimum
    # all the green is used: what the EV cannot take goes to the other session
    assert result.sessions["A/1"].total_wh == pytest.approx(3700.0 * 2, rel=1e-3)
    assert result.sessions["B/1"].total_wh == pytest.approx(12_000.0 * 2 - 3700.0 * 2, rel=1e-3)


def test_the_planner_refuses_a_power_bound_that_is_not_a_number() -> None:
    bad = PlanSession("A/1", "s", 1000.0, min_power_w=math.nan)
    with pytest.raises(PlanError, match="min_power_w must be a number >= 0"):
        plan(PlanInput(900.0, [0.0], {"s": PlanSite("s", 32.0)}, [bad]))


def test_the_stored_needs_become_the_scheduler_range() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    ac = {"energyAmount": 20_000, "evMinCurrent": 6, "evMaxCurrent": 13, "evMaxVoltage": 400}
    needs = parse_needs(
        {
            "evseId": 1,
            "chargingNeeds": {
                "requestedEnergyTransfer": "AC_three_phase",
                "acChargingParameters": ac,
                "v2xChargingParameters": {"maxChargePower": 7000, "minChargePower": 1500},
            },
        },
        now,
    )
    stored = {**needs.view(), "session_energy_wh": 21_000.0}
    assert ev_range(stored) == EVRange(6.0, 13.0, 1500.0, 7000.0, 21_000.0)
    dc = {"energy_transfer": "DC", "max_charge_current_a": 200.0, "max_charge_power_w": 50_000.0}
    assert ev_range(dc) == EVRange(0.0, math.inf, 0.0, 50_000.0, None)  # a DC current is on the EV's side
    assert ev_range(None) is None
    assert ev_range({"energy_transfer": "AC_BPT", "max_charge_power_w": "lots", "session_energy_wh": -1}) == EVRange()
