"""Green energy through stationary batteries in the one green accounting: solar stored and given to EVs later
is green (credited to the park it came from), grid energy stored stays grey, the stored mix is carried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartgrid.ledger import GreenAccounting
from smartgrid.storage import Stock, storage_minute

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def accounting() -> GreenAccounting:
    return GreenAccounting(
        park_pool={"p1": "coop", "p2": "coop"},
        park_member={"p1": "m1", "p2": "m2"},
        battery_pool={"bat": "coop"},
        battery_efficiency={"bat": 0.81},
    )


def test_solar_stored_at_noon_is_green_in_an_ev_in_the_evening() -> None:
    ledger = accounting()
    ledger.generation({("p1", at(0)): 75.0, ("p2", at(0)): 25.0})
    ledger.battery({("bat/charge", at(0)): 60.0})  # no EV at noon: 60 of the 100 Wh stored
    ledger.start(1, "CP", at(1), 0.0, pool="coop")
    ledger.meter(1, at(2), 50.0, 3000.0)  # 50 Wh in minute 1, no sun
    ledger.battery({("bat/discharge", at(1)): 40.0})
    out = ledger.close(at(10))
    assert ledger.session_green_wh(1) == pytest.approx(40.0)  # what the battery gave, all from the sun
    credited = {m.park_id: m.green_wh for m in out if m.minute == at(1)}
    assert credited == {"p1": pytest.approx(30.0), "p2": pytest.approx(10.0)}  # the parks it came from
    assert sum(m.green_wh for m in out) == pytest.approx(ledger.session_green_wh(1))
    assert ledger.day(T0.date()).to_evs_wh == pytest.approx(40.0)
    # 60 Wh in; 40 Wh out took 40 / 0.81 of the stock: what is left is green still
    assert ledger.stocks["bat"].total_wh == pytest.approx(60.0 - 40.0 / 0.81)
    assert ledger.battery_green_share("bat") == pytest.approx(1.0)


def test_grid_energy_stored_stays_grey_and_the_mix_is_carried() -> None:
    ledger = accounting()
    ledger.generation({("p1", at(0)): 50.0})
    ledger.battery({("bat/charge", at(0)): 150.0})  # 50 Wh of surplus, 100 Wh from the grid
    ledger.close(at(5))
    assert ledger.battery_green_share("bat") == pytest.approx(1 / 3)
    ledger.start(1, "CP", at(5), 0.0, pool="coop")
    ledger.meter(1, at(6), 81.0, 4860.0)
    ledger.battery({("bat/discharge", at(5)): 81.0})  # takes 100 Wh of stock: a third of it green
    ledger.close(at(10))
    assert ledger.session_green_wh(1) == pytest.approx(81.0 / 3)
    assert ledger.battery_green_share("bat") == pytest.approx(1 / 3)  # the mix left is the mix it had
    assert ledger.stocks["bat"].total_wh == pytest.approx(50.0)


def test_a_discharge_beyond_what_the_accounting_saw_go_in_is_grey() -> None:
    ledger = accounting()
    ledger.start(1, "CP", at(0), 0.0, pool="coop")
    ledger.meter(1, at(1), 50.0, 3000.0)
    ledger.battery({("bat/discharge", at(0)): 50.0})  # what was in it before: unknown, so grey
    ledger.close(at(5))
    assert ledger.session_green_wh(1) == 0.0


def test_direct_solar_comes_first_and_a_green_discharge_no_ev_takes_is_not_green() -> None:
    stocks = {"bat": Stock({"p1": 100.0})}
    done = storage_minute(stocks, {"bat": 1.0}, {"bat": (0.0, 50.0)}, {}, ev_grid_wh=20.0)
    assert done.ev_green_wh == {"p1": pytest.approx(20.0)}  # the EVs took 20 Wh beyond the sun; 30 went elsewhere
    assert stocks["bat"].total_wh == pytest.approx(50.0)
    charged = storage_minute(stocks, {}, {"bat": (40.0, 0.0)}, {"p1": 10.0, "p2": 30.0}, ev_grid_wh=0.0)
    assert (charged.charged_green_wh, charged.charged_grey_wh) == (40.0, 0.0)
    assert stocks["bat"].green_wh == {"p1": pytest.approx(60.0), "p2": pytest.approx(30.0)}


@settings(max_examples=150, deadline=None)
@given(
    minutes=st.lists(
        st.tuples(st.floats(0, 200), st.floats(0, 200), st.floats(0, 100), st.floats(0, 100)), min_size=1, max_size=30
    )
)
def test_batteries_never_make_green_the_sun_did_not_put_in(minutes: list[tuple[float, float, float, float]]) -> None:
    """Per minute: generation, EV energy, battery charge, battery discharge (in any combination)."""
    ledger = accounting()
    ledger.start(1, "CP", at(0), 0.0, pool="coop")
    register = 0.0
    for k, (solar, ev, charge, discharge) in enumerate(minutes):
        ledger.generation({("p1", at(k)): solar})
        ledger.battery({("bat/charge", at(k)): charge, ("bat/discharge", at(k)): discharge})
        register += ev
        ledger.meter(1, at(k + 1), register, None)
    out = ledger.close(at(len(minutes) + 10), final=True)
    green = ledger.session_green_wh(1) or 0.0
    assert -1e-6 <= green <= (ledger.session_energy_wh(1) or 0.0) + 1e-6
    assert sum(m.green_wh for m in out) == pytest.approx(green, rel=0.005, abs=1e-6)  # sessions = parks
    # green into EVs: at most the sun's own, and whatever came through the battery lost its efficiency share
    assert green <= sum(s for s, _, _, _ in minutes) + 1e-6
    assert ledger.stocks.get("bat", Stock()).green_share <= 1.0 + 1e-9
