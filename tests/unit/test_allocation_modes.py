"""The allocation core: departure targets, phase switching, hysteresis flags, site-aware green sharing."""

from __future__ import annotations

import pytest

from smartgrid.allocation import SessionDemand, Site, Snapshot, allocate, departure_current_a
from smartgrid.levels import water_level

V = 230.0
W3 = 3 * V


def session(key: str, site: str = "s", **kw: object) -> SessionDemand:
    return SessionDemand(key=key, charge_point_id=key, connector_id=1, site_id=site, **kw)  # type: ignore[arg-type]


def run(green_w: float, sessions: list[SessionDemand], limit_a: float = 100.0, limit_t: float = 100.0):  # type: ignore[no-untyped-def]
    return allocate(Snapshot(green_w, {"s": Site("s", limit_a), "t": Site("t", limit_t)}, sessions))


@pytest.mark.parametrize(
    ("needed_wh", "left_s", "expected_green_wh", "offered_a", "expected_a"),
    [
        (None, 3600.0, 0.0, None, 0.0),  # no target: solar only
        (0.0, 3600.0, 0.0, None, 0.0),  # target met
        (8 * W3, 3600.0, 0.0, None, 8.0),  # 8 A for an hour: half of what 16 A could do, time to start
        (2 * W3, 3600.0, 0.0, None, 0.0),  # paused, the grid could still do it later: wait for the sun
        (2 * W3, 3600.0, 0.0, 6.0, 6.0),  # charging: less than the minimum per hour, the minimum
        (40 * W3, 3600.0, 0.0, None, 16.0),  # more than possible: the maximum
        (8 * W3, 7200.0, 0.0, None, 0.0),  # paused, a quarter of what two hours at 16 A could do: wait
        (8 * W3, 7200.0, 0.0, 6.0, 6.0),  # charging: 4 A over two hours, the minimum
        (16 * W3, 7200.0, 0.0, None, 8.0),  # paused, half of what 16 A could do: start, 8 A
        (8 * W3, 3600.0, 8 * W3, None, 0.0),  # the forecast covers it: wait for the sun
        (10 * W3, 3600.0, 2 * W3, None, 8.0),  # the forecast covers part of it
        (1000.0, 0.0, 0.0, None, 16.0),  # deadline passed, still wanted: full
    ],
)
def test_departure_current(
    needed_wh: float | None, left_s: float, expected_green_wh: float, offered_a: float | None, expected_a: float
) -> None:
    demand = session(
        "a",
        mode="departure",
        energy_needed_wh=needed_wh,
        time_left_s=left_s,
        expected_green_wh=expected_green_wh,
        offered_current_a=offered_a,
    )
    assert departure_current_a(demand, 3, V, 16.0) == pytest.approx(expected_a)


def test_departure_uses_green_first_and_grid_only_for_the_rest() -> None:
    target = session("a", mode="departure", energy_needed_wh=8 * W3, time_left_s=3600.0)
    dark = run(0.0, [target])["a"]
    assert dark.limit_a == pytest.approx(8.0)
    assert dark.grid_w == pytest.approx(8 * W3)
    sunny = run(12 * W3, [target])["a"]
    assert sunny.limit_a == pytest.approx(12.0)
    assert sunny.grid_w == pytest.approx(0.0)
    half = run(5 * W3, [target])["a"]
    assert half.limit_a == pytest.approx(8.0)
    assert half.green_w == pytest.approx(5 * W3)
    assert half.grid_w == pytest.approx(3 * W3)


def test_departure_without_target_behaves_like_green() -> None:
    assert run(0.0, [session("a", mode="departure")])["a"].limit_a == 0.0
    assert run(8 * W3, [session("a", mode="departure")])["a"].limit_a == pytest.approx(8.0)


def test_phase_switching_starts_on_one_phase_when_three_would_pause() -> None:
    switchable = session("a", phase_switching=True)
    # 2 kW: too little for 6 A on three phases (4.14 kW), enough for 8.7 A on one
    low = run(2000.0, [switchable])["a"]
    assert low.phases == 1
    assert low.limit_a == pytest.approx(2000.0 / V)
    assert low.grid_w == pytest.approx(0.0, abs=0.1)
    high = run(10 * W3, [switchable])["a"]
    assert (high.phases, high.limit_a) == (3, pytest.approx(10.0))
    fixed = run(2000.0, [session("b")])["b"]
    assert (fixed.phases, fixed.limit_a) == (3, 0.0)


def test_hysteresis_flags() -> None:
    held = run(0.0, [session("a", hold_on=True)])["a"]
    assert held.limit_a == 6.0  # kept at the minimum from the grid during the disable delay
    assert held.grid_w == pytest.approx(6 * W3)
    waiting = run(20 * W3, [session("a", enabled=False), session("b")])
    assert waiting["a"].limit_a == 0.0  # not enabled yet: its share goes to b
    assert waiting["b"].limit_a == 16.0


def test_full_site_leaves_green_to_the_other_site() -> None:
    # site s carries 10 A only: a stops at 10 A, b at the other site takes the rest
    result = run(26 * W3, [session("a", max_current_a=32.0), session("b", site="t", max_current_a=32.0)], limit_a=10.0)
    assert result["a"].limit_a == pytest.approx(10.0)
    assert result["b"].limit_a == pytest.approx(16.0)


def test_admission_skips_a_session_that_does_not_fit_for_a_later_one_that_does() -> None:
    # 6 kW: a (3p, 4.14 kW at 6 A) is admitted, b (3p) would need 8.28 kW in all, c (1p) 5.52 kW: c is served
    result = run(6000.0, [session("a"), session("b"), session("c", phases=1)])
    assert {k for k, p in result.items() if p.limit_a > 0} == {"a", "c"}
    assert sum(p.power_w for p in result.values()) == pytest.approx(6000.0, abs=1)
    # 5 kW: c no longer fits next to a
    result = run(5000.0, [session("a"), session("b"), session("c", phases=1)])
    assert {k for k, p in result.items() if p.limit_a > 0} == {"a"}


def test_water_level() -> None:
    assert water_level([(1.0, 5.0), (1.0, 10.0)], 12.0) == pytest.approx(7.0)
    assert water_level([(1.0, 5.0)], 12.0) == float("inf")
    assert water_level([], 3.0) == float("inf")


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        run(0.0, [session("a", mode="turbo")])


def test_fast_setpoint_constructor_matches_the_dataclass() -> None:
    from smartgrid.allocation import Setpoint, _setpoint

    values = ("a", "A", 1, "s", 6.5, 3, 4485.0, 4000.0, 485.0)
    built = _setpoint(*values)
    assert built == Setpoint(*values)
    assert hash(built) == hash(Setpoint(*values))
    with pytest.raises(AttributeError):
        built.limit_a = 7.0  # type: ignore[misc]


def test_equal_priorities_are_admitted_in_key_order_whatever_the_input_order() -> None:
    sessions = [session(k, priority=p) for k, p in [("c", 0), ("a", 1), ("b", 0), ("d", 1)]]
    result = run(2 * 6 * W3, sessions)
    assert {k for k, p in result.items() if p.limit_a > 0} == {"a", "d"}
    result = run((2 * 16 + 6) * W3, list(reversed(sessions)))  # the first class full, then the next one
    assert {k: p.limit_a for k, p in result.items()} == {"a": 16.0, "d": 16.0, "b": 6.0, "c": 0.0}


def test_an_ev_taking_all_it_was_offered_may_rise_an_unused_offer_is_reclaimed() -> None:
    # offered 8 A, draws 8 A: it may want more, its ceiling stays the charger's maximum
    rising = run(30 * W3, [session("a", drawn_current_a=8.0, offered_current_a=8.0)])["a"]
    assert rising.limit_a == 16.0
    # offered 12 A, draws 7 A: the unused part goes to others (7 + 1 A margin)
    lazy = run(30 * W3, [session("a", drawn_current_a=7.0, offered_current_a=12.0), session("b")])
    assert lazy["a"].limit_a == pytest.approx(8.0)
    assert lazy["b"].limit_a == 16.0


def test_a_full_site_cuts_holds_first_and_the_most_urgent_departure_last() -> None:
    sessions = [
        session("a", mode="departure", energy_needed_wh=14 * W3, time_left_s=3600.0),  # needs 14 A
        session("b", mode="departure", energy_needed_wh=7 * W3, time_left_s=3600.0, offered_current_a=7.0),  # 7 A
        session("c", hold_on=True),  # held at 6 A by hysteresis
        session("d", mode="green_min"),
    ]
    result = run(0.0, sessions, limit_a=21.0)
    assert result["a"].limit_a == pytest.approx(14.0)
    assert result["b"].limit_a == pytest.approx(7.0)
    assert result["c"].limit_a == 0.0
    assert result["d"].limit_a == 0.0
    result = run(0.0, sessions, limit_a=27.0)
    assert (result["c"].limit_a, result["d"].limit_a) == (0.0, 6.0)


def test_the_least_urgent_departure_is_cut_first_whatever_its_admission_order() -> None:
    sessions = [
        session("a", mode="departure", energy_needed_wh=7 * W3, time_left_s=3600.0, offered_current_a=7.0),
        session("b", mode="departure", energy_needed_wh=14 * W3, time_left_s=3600.0),  # admitted last, more urgent
    ]
    result = run(0.0, sessions, limit_a=18.0)
    assert result["b"].limit_a == pytest.approx(14.0)
    assert result["a"].limit_a == 0.0


def test_a_departure_floor_above_the_sites_green_level_is_kept() -> None:
    """Ten sessions sharing a full site's green must not push a departure plan's floor out of the site."""
    sessions = [session(f"g{n}", hold_on=True) for n in range(9)]
    sessions.append(session("z-plan", mode="departure", energy_needed_wh=14.7 * 230.0, time_left_s=3600.0, phases=1))
    result = run(200_000.0, sessions, limit_a=90.0)
    assert result["z-plan"].limit_a == pytest.approx(14.7)
    assert sum(p.limit_a for p in result.values()) <= 90.0 + 1e-6


def test_when_the_sun_starts_only_one_the_tight_departure_plan_goes_first_soonest_deadline_first() -> None:
    # 14 A·h of 32 possible in two hours: tight (past 40 %), yet no grid floor yet (under half): it waits on green
    tight = session("z", mode="departure", energy_needed_wh=14 * W3, time_left_s=7200.0)
    tighter = session("y", mode="departure", energy_needed_wh=6 * W3, time_left_s=3000.0)
    relaxed = session("b", mode="departure", energy_needed_wh=2 * W3, time_left_s=7200.0)
    green = session("a")
    assert departure_current_a(tight, 3, V, 16.0) == 0.0  # floorless: admission decides
    one_minimum = 7 * W3
    points = run(one_minimum, [green, relaxed, tight])
    assert (points["z"].limit_a, points["a"].limit_a, points["b"].limit_a) == (pytest.approx(7.0), 0.0, 0.0)
    points = run(one_minimum, [green, tight, tighter])
    assert (points["y"].limit_a, points["z"].limit_a) == (pytest.approx(7.0), 0.0)  # the sooner deadline
    points = run(one_minimum, [green, relaxed])  # slack left: key order as before
    assert (points["a"].limit_a, points["b"].limit_a) == (pytest.approx(7.0), 0.0)
