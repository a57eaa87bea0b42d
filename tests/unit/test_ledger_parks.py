"""The green accounting's attribution of each session's green energy to the parks it came from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartgrid.ledger import GreenAccounting

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_two_sessions_share_the_parks_in_proportion_to_generation() -> None:
    ledger = GreenAccounting(park_pool={"p1": "c", "p2": "c"})
    ledger.start(1, "A", at(0), 0.0, pool="c")
    ledger.start(2, "B", at(0), 0.0, pool="c")
    ledger.meter(1, at(1), 300.0, None)  # 300 Wh and 100 Wh in minute 0
    ledger.meter(2, at(1), 100.0, None)
    ledger.generation({("p1", at(0)): 150.0, ("p2", at(0)): 50.0})  # 200 Wh green: half of each session's energy
    ledger.stop(1, at(1), 300.0)
    ledger.stop(2, at(1), 100.0)
    ledger.close(at(10), final=True)
    assert ledger.session_parks(1) == pytest.approx({"p1": 112.5, "p2": 37.5})
    assert ledger.session_parks(2) == pytest.approx({"p1": 37.5, "p2": 12.5})
    assert ledger.may_turn_green(1)  # its pool has parks
    assert ledger.finished() == pytest.approx({1: 150.0, 2: 50.0})
    assert ledger.finished_parks[1] == pytest.approx({"p1": 112.5, "p2": 37.5})


def test_without_parks_in_its_pool_nothing_may_turn_green() -> None:
    ledger = GreenAccounting(park_pool={"p1": "other"})
    ledger.start(1, "A", at(0), 0.0, pool="c")
    ledger.meter(1, at(1), 100.0, None)
    assert not ledger.may_turn_green(1)
    ledger.generation({("loose", at(0)): 10.0})  # a park of no pool, generating in a minute still open
    assert not ledger.may_turn_green(1)  # pool "c" is not "": still nothing
    assert ledger.session_parks(1) == {}
    assert not ledger.may_turn_green(99)
    assert ledger.session_parks(99) is None


@settings(max_examples=200, deadline=None)
@given(
    energy=st.lists(st.lists(st.floats(0, 5000), min_size=3, max_size=3), min_size=1, max_size=8),
    generation=st.lists(st.lists(st.floats(0, 5000), min_size=2, max_size=2), min_size=1, max_size=8),
    late=st.floats(0, 2000),
)
def test_the_split_by_park_sums_to_the_sessions_green(
    energy: list[list[float]], generation: list[list[float]], late: float
) -> None:
    """Per minute: three sessions' energy, two parks' generation; then a replayed reading for a closed minute."""
    ledger = GreenAccounting(park_pool={"p1": "c", "p2": "c"})
    registers = [0.0, 0.0, 0.0]
    for key in range(3):
        ledger.start(key, f"CP{key}", at(0), 0.0, pool="c")
    for minute, per_session in enumerate(energy):
        for key, wh in enumerate(per_session):
            registers[key] += wh
            ledger.meter(key, at(minute + 1), registers[key], None)
    ledger.generation(
        {(park, at(m)): wh for m, row in enumerate(generation) for park, wh in zip(("p1", "p2"), row, strict=True)}
    )
    ledger.close(at(len(energy) + 5))
    ledger.meter(0, at(len(energy) + 1.5), registers[0] + late, None)  # late: into minutes already closed
    ledger.close(at(len(energy) + 30), final=True)
    for key in range(3):
        parks = ledger.session_parks(key) or {}
        assert sum(parks.values()) == pytest.approx(ledger.session_green_wh(key), rel=1e-9, abs=1e-6)
        assert all(wh >= 0 for wh in parks.values())
    generated = {p: sum(row[i] for row in generation) for i, p in enumerate(("p1", "p2"))}
    for park, wh in generated.items():  # no park gives more than it generated
        assert sum((ledger.session_parks(k) or {}).get(park, 0.0) for k in range(3)) <= wh + 1e-6
