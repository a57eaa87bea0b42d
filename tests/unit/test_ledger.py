"""The green ledger: each increment is green in the share min(1, solar / EVs)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartgrid.ledger import GreenLedger


def test_all_green_when_solar_covers_the_evs() -> None:
    ledger = GreenLedger()
    ledger.start(1, "A", 1, 1000.0)
    ledger.meter(1, None, 7000.0, solar_w=10_000.0)
    ledger.meter(1, 1500.0, 7000.0, solar_w=10_000.0)
    assert ledger.green_wh(1) == pytest.approx(500.0)
    assert ledger.stop(1, 1700.0, solar_w=10_000.0) == pytest.approx(700.0)
    assert ledger.green_wh(1) is None
    assert ledger.ev_power_w() == 0.0


def test_pooled_share_when_solar_is_short() -> None:
    ledger = GreenLedger()
    ledger.start(1, "A", 1, 0.0)
    ledger.start(2, "B", 1, 0.0)
    ledger.meter(1, None, 6000.0, solar_w=3000.0)
    ledger.meter(2, None, 6000.0, solar_w=3000.0)
    assert ledger.ev_power_w() == 12_000.0
    ledger.meter(1, 400.0, 6000.0, solar_w=3000.0)
    assert ledger.green_wh(1) == pytest.approx(100.0)  # a quarter of it was green


def test_unknown_and_backwards_readings_change_nothing() -> None:
    ledger = GreenLedger()
    ledger.meter(9, 100.0, 100.0, solar_w=1.0)
    assert ledger.stop(9, 5.0, 1.0) is None
    ledger.start(1, "A", 1, 500.0)
    ledger.meter(1, 400.0, 1000.0, solar_w=1000.0)  # a register that went back
    assert ledger.green_wh(1) == 0.0


@given(st.lists(st.tuples(st.floats(0, 50), st.floats(0, 22_000), st.floats(0, 50_000)), max_size=40))
def test_green_never_exceeds_energy(steps: list[tuple[float, float, float]]) -> None:
    ledger = GreenLedger()
    ledger.start(1, "A", 1, 0.0)
    register = 0.0
    for energy_step, power, solar in steps:
        register += energy_step
        ledger.meter(1, register, power, solar)
        green = ledger.green_wh(1)
        assert green is not None
        assert 0.0 <= green <= register + 1e-6
