"""The pure allocation core: table cases and hypothesis properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartgrid.allocation import SessionDemand, Setpoint, Site, Snapshot, allocate

V = 230.0
THREE_PHASE_W_PER_A = 3 * V


def session(key: str, site: str = "s", **kw: object) -> SessionDemand:
    return SessionDemand(key=key, charge_point_id=key, connector_id=1, site_id=site, **kw)  # type: ignore[arg-type]


def run(green_w: float, sessions: list[SessionDemand], grid_limit_a: float = 100.0) -> dict[str, Setpoint]:
    return allocate(Snapshot(green_w, {"s": Site("s", grid_limit_a), "t": Site("t", grid_limit_a)}, sessions))


def test_even_split_when_green_suffices() -> None:
    result = run(2 * 10 * THREE_PHASE_W_PER_A, [session("a"), session("b")])
    assert result["a"].limit_a == pytest.approx(10.0)
    assert result["b"].limit_a == pytest.approx(10.0)
    assert result["a"].grid_w == 0.0


def test_too_little_green_pauses_instead_of_going_below_minimum() -> None:
    result = run(1.5 * 6 * THREE_PHASE_W_PER_A, [session("a"), session("b")])
    assert result["a"].limit_a == pytest.approx(9.0)  # the paused one's share goes to the other
    assert result["b"].limit_a == 0.0


def test_no_green_no_charging_in_green_mode() -> None:
    assert run(0.0, [session("a")])["a"].limit_a == 0.0
    assert run(float("nan"), [session("a")])["a"].limit_a == 0.0


def test_priority_is_served_first() -> None:
    result = run(8 * THREE_PHASE_W_PER_A, [session("a"), session("b", priority=5)])
    assert result["b"].limit_a == pytest.approx(8.0)
    assert result["a"].limit_a == 0.0


def test_green_min_always_gets_its_minimum_and_solar_above_it() -> None:
    result = run(0.0, [session("a", mode="green_min")])
    assert result["a"].limit_a == 6.0
    assert result["a"].grid_w == pytest.approx(6 * THREE_PHASE_W_PER_A)
    sunny = run(12 * THREE_PHASE_W_PER_A, [session("a", mode="green_min")])
    assert sunny["a"].limit_a == pytest.approx(12.0)
    assert sunny["a"].grid_w == pytest.approx(0.0)


def test_fast_takes_its_maximum_and_counts_leftover_green() -> None:
    result = run(4 * THREE_PHASE_W_PER_A, [session("a", mode="fast")])
    assert result["a"].limit_a == 16.0
    assert result["a"].green_w == pytest.approx(4 * THREE_PHASE_W_PER_A)


def test_unused_offer_is_reclaimed() -> None:
    # b's EV draws only 7 A of what it could get: the rest goes to a
    result = run(30 * THREE_PHASE_W_PER_A, [session("a", max_current_a=32.0), session("b", drawn_current_a=7.0)])
    assert result["b"].limit_a == pytest.approx(8.0)
    assert result["a"].limit_a == pytest.approx(22.0)


def test_site_limit_holds_even_for_fast_sessions() -> None:
    result = run(0.0, [session(k, mode="fast") for k in "abc"], grid_limit_a=40.0)
    assert sum(r.limit_a for r in result.values()) <= 40.0 + 1e-9
    assert all(r.limit_a == 0.0 or r.limit_a >= 6.0 for r in result.values())


def test_green_pools_across_sites() -> None:
    result = run(2 * 8 * THREE_PHASE_W_PER_A, [session("a", site="s"), session("b", site="t")])
    assert result["a"].limit_a == pytest.approx(8.0)
    assert result["b"].limit_a == pytest.approx(8.0)


def test_unknown_site_gets_nothing() -> None:
    result = allocate(Snapshot(50_000.0, {}, [session("a", site="nowhere")]))
    assert result["a"].limit_a == 0.0


def test_single_phase_sessions_use_a_third_of_the_watts() -> None:
    result = run(10 * V, [session("a", phases=1)])
    assert result["a"].limit_a == pytest.approx(10.0)


demands = st.builds(
    SessionDemand,
    key=st.text(alphabet="abcdefgh", min_size=1, max_size=3),
    charge_point_id=st.just("cp"),
    connector_id=st.integers(1, 2),
    site_id=st.sampled_from(["s", "t"]),
    phases=st.sampled_from([1, 3]),
    min_current_a=st.floats(6.0, 8.0),
    max_current_a=st.floats(6.0, 32.0),
    drawn_current_a=st.one_of(st.none(), st.floats(0.0, 32.0)),
    mode=st.sampled_from(["green", "green_min", "fast", "departure"]),
    priority=st.integers(0, 2),
    energy_needed_wh=st.one_of(st.none(), st.floats(0, 60_000)),
    time_left_s=st.one_of(st.none(), st.floats(-60, 36_000)),
    expected_green_wh=st.floats(0, 30_000),
    phase_switching=st.booleans(),
    hold_on=st.booleans(),
    enabled=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    green_w=st.one_of(st.floats(0, 200_000), st.just(float("nan")), st.floats(-1000, 0)),
    sessions=st.lists(demands, max_size=12, unique_by=lambda d: d.key),
    limit_s=st.floats(0, 120),
    limit_t=st.floats(0, 120),
    base=st.floats(0, 20),
)
def test_properties(green_w: float, sessions: list[SessionDemand], limit_s: float, limit_t: float, base: float) -> None:
    sites = {"s": Site("s", limit_s, base_load_a=base), "t": Site("t", limit_t)}
    result = allocate(Snapshot(green_w, sites, sessions))
    assert set(result) == {d.key for d in sessions}
    usable_green = green_w if math.isfinite(green_w) and green_w > 0 else 0.0
    for demand in sessions:
        point = result[demand.key]
        # each limit is 0 or within [min, max]
        assert point.limit_a == 0.0 or demand.min_current_a - 1e-6 <= point.limit_a <= demand.max_current_a + 1e-6
        assert point.green_w >= 0
        assert point.grid_w >= -1e-6
        assert point.green_w + point.grid_w == pytest.approx(point.power_w, abs=0.5)
        assert point.power_w == pytest.approx(point.limit_a * point.phases * 230.0, abs=0.1)
        assert point.phases == demand.phases or (demand.phase_switching and point.phases in (1, 3))
        if not demand.enabled:
            assert point.limit_a == 0.0
    # never more green than there is
    assert sum(p.green_w for p in result.values()) <= usable_green + 1.0
    # solar-only sessions never draw more than the green power
    green_only = [result[d.key] for d in sessions if d.mode == "green" and not d.hold_on]
    assert sum(p.power_w for p in green_only) <= usable_green + 1.0
    # site limits are never exceeded
    for site in sites.values():
        at_site = sum(result[d.key].limit_a for d in sessions if d.site_id == site.id)
        assert at_site <= max(0.0, site.grid_limit_a - site.base_load_a) + 1e-6
    # deterministic
    assert allocate(Snapshot(green_w, sites, list(reversed(sessions)))) == result
