"""Interval accounting of green energy, attributed to parks and members pro rata (smartgrid.ledger)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartgrid.ledger import CooperativeLedger, split_interval

MEMBERS = {"p1": "alice", "p2": "bob", "p3": "alice"}


@pytest.mark.parametrize(
    ("sessions", "parks", "green", "members", "unused"),
    [
        # generation covers the EVs: all green, parks contribute pro rata
        (
            {"a": 100.0, "b": 300.0},
            {"p1": 600.0, "p2": 200.0},
            {"a": 100.0, "b": 300.0},
            {"alice": 300.0, "bob": 100.0},
            400.0,
        ),
        # generation short: everyone gets the same share (1/2)
        (
            {"a": 100.0, "b": 300.0},
            {"p1": 150.0, "p2": 50.0},
            {"a": 50.0, "b": 150.0},
            {"alice": 150.0, "bob": 50.0},
            0.0,
        ),
        # no sun
        ({"a": 100.0}, {"p1": 0.0}, {"a": 0.0}, {"alice": 0.0}, 0.0),
        # no EVs
        ({}, {"p1": 100.0}, {}, {"alice": 0.0}, 100.0),
        # nonsense readings count as nothing
        (
            {"a": float("nan"), "b": -5.0},
            {"p1": float("inf"), "p2": 10.0},
            {"a": 0.0, "b": 0.0},
            {"alice": 0.0, "bob": 0.0},
            10.0,
        ),
        # two parks of one member add up; an unknown park goes to the cooperative ("")
        ({"a": 90.0}, {"p1": 30.0, "p3": 30.0, "px": 30.0}, {"a": 90.0}, {"alice": 60.0, "": 30.0}, 0.0),
    ],
)
def test_split_interval(
    sessions: dict[str, float],
    parks: dict[str, float],
    green: dict[str, float],
    members: dict[str, float],
    unused: float,
) -> None:
    split = split_interval(sessions, parks, MEMBERS)
    assert split.green_wh == pytest.approx(green)
    assert split.member_wh == pytest.approx(members)
    assert split.unused_wh == pytest.approx(unused)


wh = st.floats(0, 10_000)


@given(st.dictionaries(st.sampled_from("abcdef"), wh), st.dictionaries(st.sampled_from(["p1", "p2", "p3"]), wh))
def test_split_conserves_energy(sessions: dict[str, float], parks: dict[str, float]) -> None:
    split = split_interval(sessions, parks, MEMBERS)
    green_total = sum(split.green_wh.values())
    assert green_total == pytest.approx(min(sum(sessions.values()), sum(parks.values())), abs=1e-6)
    assert sum(split.park_wh.values()) == pytest.approx(green_total, abs=1e-6)
    assert sum(split.member_wh.values()) == pytest.approx(green_total, abs=1e-6)
    for key, energy in sessions.items():
        assert 0 <= split.green_wh[key] <= energy + 1e-9
        assert split.green_wh[key] + split.grid_wh[key] == pytest.approx(energy)
    for park, generated in parks.items():
        assert 0 <= split.park_wh[park] <= generated + 1e-9


def test_cooperative_ledger_accumulates_and_closes_sessions() -> None:
    ledger = CooperativeLedger(park_member=dict(MEMBERS))
    ledger.add({"a": 100.0}, {"p1": 100.0, "p2": 100.0})  # all green, half of each park
    ledger.add({"a": 100.0, "b": 100.0}, {"p2": 100.0})  # half green each, all from bob
    assert ledger.green_share("a") == pytest.approx(0.75)
    assert ledger.green_share("zzz") is None
    assert ledger.report() == {
        "generated_wh": 300.0,
        "green_to_evs_wh": 200.0,
        "unused_wh": 100.0,
        "parks": {"p1": 50.0, "p2": 150.0},
        "members": {"alice": 50.0, "bob": 150.0},
    }
    assert ledger.close("a") == pytest.approx((150.0, 50.0))
    assert ledger.green_share("a") is None
