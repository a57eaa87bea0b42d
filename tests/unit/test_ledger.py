"""The one green accounting: energy register deltas and generation per minute in, green per minute out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartgrid.ledger import GreenAccounting
from solar.accounting import minute_of

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_register_without_power_and_no_solar_is_not_green() -> None:
    """The bug of issue 15: 500 of 500 Wh counted green for a charger reporting energy but no power."""
    ledger = GreenAccounting()
    ledger.start(1, "CP-16", at(0), 0.0)
    ledger.meter(1, at(1), 250.0, None)
    ledger.stop(1, at(2), 500.0)
    ledger.close(at(10), final=True)
    assert ledger.session_energy_wh(1) == pytest.approx(500.0)
    assert ledger.finished() == {1: 0.0}


def test_green_from_concurrent_generation_pro_rata_to_parks() -> None:
    ledger = GreenAccounting(park_member={"p1": "m1", "p2": "m2"})
    ledger.start(1, "A", at(0), 1000.0)
    ledger.meter(1, at(1), 1100.0, 6000.0)  # 100 Wh in minute 0
    ledger.generation({("p1", at(0)): 30.0, ("p2", at(0)): 10.0})
    out = ledger.close(at(5))
    assert ledger.session_green_wh(1) == pytest.approx(40.0)
    assert {m.park_id: round(m.green_wh, 6) for m in out} == {"p1": 30.0, "p2": 10.0}
    day = ledger.day(T0.date())
    assert day.to_evs_wh == pytest.approx(40.0)
    assert day.ev_wh == pytest.approx(100.0)
    assert day.solar_wh == pytest.approx(40.0)


def test_power_fills_in_only_without_a_register_and_says_so() -> None:
    ledger = GreenAccounting()
    ledger.start(1, "P", at(0), None)
    ledger.meter(1, at(0), None, 6000.0)
    ledger.meter(1, at(1), None, 6000.0)  # 100 Wh held over minute 0
    assert ledger.session_source(1) == "power"
    assert ledger.session_energy_wh(1) == pytest.approx(100.0)
    ledger.start(2, "R", at(0), 0.0)
    ledger.meter(2, at(0), None, 6000.0)
    ledger.meter(2, at(1), 50.0, 6000.0)
    assert ledger.session_source(2) == "register"
    assert ledger.session_energy_wh(2) == pytest.approx(50.0)


def test_replayed_readings_count_in_the_minutes_they_were_measured() -> None:
    ledger = GreenAccounting()
    ledger.start(1, "A", at(0), 0.0)
    ledger.generation({("p", at(m)): 50.0 for m in range(10)})
    ledger.meter(1, at(1), 20.0, 1200.0)
    ledger.offline("A")
    assert ledger.ev_power_w() == 0.0
    ledger.close(at(8))  # minutes 0..5 closed, the charger offline
    ledger.meter(1, at(4), 140.0, 1200.0)  # replayed: 40 Wh in each of minutes 1, 2, 3
    assert ledger.ev_power_w() == 1200.0
    ledger.close(at(20), final=True)
    assert ledger.session_green_wh(1) == pytest.approx(140.0)


def test_pools_keep_cooperatives_apart() -> None:
    ledger = GreenAccounting(park_pool={"pa": "a", "pb": "b"})
    ledger.start(1, "A", at(0), 0.0, pool="a")
    ledger.start(2, "B", at(0), 0.0, pool="b")
    ledger.meter(1, at(1), 100.0, None)
    ledger.meter(2, at(1), 100.0, None)
    ledger.generation({("pa", at(0)): 100.0})
    ledger.close(at(5))
    assert ledger.session_green_wh(1) == pytest.approx(100.0)
    assert ledger.session_green_wh(2) == 0.0
    assert ledger.day(T0.date(), ["b"]).to_evs_wh == 0.0


readings = st.lists(
    st.tuples(
        st.integers(0, 2),  # session
        st.floats(0.1, 7.0),  # minutes since the previous reading
        st.floats(0, 400),  # register step, Wh
        st.one_of(st.none(), st.floats(0, 22_000)),  # power
        st.booleans(),  # reports a register?
    ),
    max_size=40,
)
generation = st.dictionaries(
    st.tuples(st.sampled_from(["p1", "p2"]), st.integers(0, 60)), st.floats(0, 300), max_size=40
)


@settings(max_examples=150, deadline=None)
@given(readings, generation, st.integers(0, 60))
def test_invariants(steps: list[tuple[int, float, float, float | None, bool]], gen: dict, close_at: int) -> None:
    ledger = GreenAccounting(park_member={"p1": "m1", "p2": "m2"})
    clock = [0.0, 0.0, 0.0]
    register = [0.0, 0.0, 0.0]
    for key in range(3):
        ledger.start(key, f"CP-{key}", at(0), 0.0)
    half = len(steps) // 2
    generated = {(p, at(m)): wh for (p, m), wh in gen.items()}
    ledger.generation(generated)
    out = []
    for index, (key, step_min, step_wh, power, has_register) in enumerate(steps):
        clock[key] += step_min
        register[key] += step_wh
        ledger.meter(key, at(clock[key]), register[key] if has_register else None, power)
        if index == half:
            out += ledger.close(at(close_at))
    for key in range(3):
        ledger.stop(key, at(clock[key] + 1), register[key])
    out += ledger.close(at(200), final=True)
    energy = {key: ledger.session_energy_wh(key) or 0.0 for key in range(3)}
    green = {key: ledger.session_green_wh(key) or 0.0 for key in range(3)}
    # a session's green never exceeds its energy
    for key in range(3):
        assert -1e-9 <= green[key] <= energy[key] + 1e-6
    # the sessions' green equals the parks' energy into EVs
    parks_green = sum(m.green_wh for m in out)
    assert sum(green.values()) == pytest.approx(parks_green, rel=0.005, abs=1e-6)
    day_green = sum(ledger.day(d).to_evs_wh for d in {at(0).date(), at(300).date()})
    assert day_green == pytest.approx(parks_green, rel=0.005, abs=1e-6)
    # energy into EVs never exceeds generation in any minute (per park)
    per_minute: dict[tuple[str, datetime], float] = {}
    for m in out:
        per_minute[(m.park_id, m.minute)] = per_minute.get((m.park_id, m.minute), 0.0) + m.green_wh
    for slot, wh in per_minute.items():
        assert wh <= generated.get((slot[0], minute_of(slot[1])), 0.0) + 1e-6
    # no generation, no green
    if not any(wh > 0 for wh in gen.values()):
        assert sum(green.values()) == 0.0


@given(readings)
def test_no_generation_no_green(steps: list[tuple[int, float, float, float | None, bool]]) -> None:
    ledger = GreenAccounting()
    ledger.start(0, "A", at(0), 0.0)
    t, register = 0.0, 0.0
    for _, step_min, step_wh, power, has_register in steps:
        t += step_min
        register += step_wh
        ledger.meter(0, at(t), register if has_register else None, power)
    ledger.stop(0, at(t + 1), register)
    ledger.close(at(t + 10), final=True)
    assert ledger.session_green_wh(0) == 0.0


def test_generation_taken_back_is_counted_once() -> None:
    ledger = GreenAccounting()
    ledger.generation({("p", at(0)): 50.0})
    ledger.retract_generation({("p", at(0)): 50.0})
    ledger.generation({("p", at(0)): 50.0})  # the same energy, counted again from the stored baselines
    assert ledger.day(T0.date()).solar_wh == pytest.approx(50.0)
