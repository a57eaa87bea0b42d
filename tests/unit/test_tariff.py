"""Tariffs (OCPI 2.2.1 model) and the cost of a session: cases computed by hand, and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.tariff import Interval, TariffError, parse_tariff, session_cost

T0 = datetime(2026, 12, 2, 6, 30, tzinfo=UTC)  # a Wednesday

MEMBER = {
    "id": "member-2026",
    "currency": "eur",
    "elements": [
        {"price_components": [{"type": "FLAT", "price": 0.50, "vat": 21}]},
        {  # night energy, 22:00-07:00
            "price_components": [{"type": "ENERGY", "price": 0.20, "green_price": 0.10, "vat": 21}],
            "restrictions": {"start_time": "22:00", "end_time": "07:00"},
        },
        {"price_components": [{"type": "ENERGY", "price": 0.30, "green_price": 0.15, "vat": 21}]},
        {  # idle fee after a 30 minute grace period
            "price_components": [{"type": "PARKING_TIME", "price": 6.00, "step_size": 60, "vat": 21}],
            "restrictions": {"min_duration": 1800},
        },
    ],
}


def test_energy_by_time_of_use_green_or_grid_a_flat_fee_and_idle_after_the_grace() -> None:
    tariff = parse_tariff(MEMBER)
    intervals = [
        Interval(T0, 1800, 4000.0, 1000.0),  # 06:30-07:00: night: 3 kWh grid at 0.20, 1 green at 0.10
        Interval(T0 + timedelta(minutes=30), 1800, 5000.0, 5000.0),  # 07:00-07:30: day: 5 green at 0.15
    ]
    cost = session_cost(tariff, T0, T0 + timedelta(minutes=75), intervals)
    # energy 0.60 + 0.10 + 0.75 = 1.45; flat 0.50; parking 07:00 -> 07:15 past the grace = 15 min at 6/h = 1.50
    assert (cost.energy, cost.green_energy, cost.flat, cost.parking) == (
        Decimal("1.45"), Decimal("0.85"), Decimal("0.50"), Decimal("1.50"),
    )  # fmt: skip
    assert cost.excl_vat == Decimal("3.45")
    assert cost.vat == Decimal("0.72")  # 21 % of 3.45 = 0.7245
    assert cost.incl_vat == Decimal("4.17")
    assert cost.currency == "EUR"


def test_the_idle_fee_starts_after_the_grace_period_not_at_the_end_of_charging() -> None:
    tariff = parse_tariff(MEMBER)
    intervals = [Interval(T0 + timedelta(hours=2), 600, 1000.0)]  # 08:30-08:40, then parked to 08:50
    cost = session_cost(tariff, T0 + timedelta(hours=2), T0 + timedelta(hours=2, minutes=20), intervals)
    assert cost.parking == Decimal("0.00")  # inside the 30 min grace
    cost = session_cost(tariff, T0 + timedelta(hours=2), T0 + timedelta(hours=3), intervals)
    assert cost.parking == Decimal("3.00")  # 09:00 -> 09:30


def test_time_of_use_is_read_in_the_sites_time_zone() -> None:
    tariff = parse_tariff(MEMBER, timezone="Europe/Amsterdam")  # 06:30 UTC is 07:30 there: day energy
    cost = session_cost(tariff, T0, T0 + timedelta(minutes=10), [Interval(T0, 600, 1000.0)])
    assert cost.energy == Decimal("0.30")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "EURO"}, "currency"),
        ({"elements": []}, "elements"),
        ({"elements": [{"price_components": [{"type": "KWH", "price": 1}]}]}, "elements.0.price_components.0.type"),
        ({"elements": [{"price_components": [{"type": "ENERGY", "price": -1}]}]},
         "elements.0.price_components.0.price"),
        ({"elements": [{"price_components": [{"type": "FLAT", "price": 1}], "restrictions": {"start_time": "25"}}]},
         "elements.0.restrictions.start_time"),
        ({"elements": [{"price_components": [{"type": "FLAT", "price": 1}],
                        "restrictions": {"day_of_week": ["FUNDAY"]}}]}, "elements.0.restrictions.day_of_week"),
    ],
)  # fmt: skip
def test_a_bad_tariff_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(TariffError, match=f"^{field.replace('.', '[.]')}:"):
        parse_tariff({**MEMBER, **change})


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["id", "currency", "elements", "x"]), json_values))
def test_any_json_is_a_tariff_or_a_tariff_error(data: dict[str, Any]) -> None:
    message = ""
    try:
        parse_tariff(data)
    except TariffError as exc:
        message = str(exc)
    assert message == "" or ": " in message


@settings(deadline=None)  # three days of parking in minute slices: slow on a loaded machine, not wrong
@given(
    st.lists(st.tuples(st.integers(0, 48 * 60), st.floats(0, 20_000), st.floats(0, 1)), max_size=12),
    st.floats(0, 5_000),
)
def test_more_energy_never_costs_less_and_green_never_costs_more(
    slices: list[tuple[int, float, float]], extra_wh: float
) -> None:
    tariff = parse_tariff(MEMBER)
    intervals = [Interval(T0 + timedelta(minutes=m), 300, wh, wh * share) for m, wh, share in slices]
    stop = T0 + timedelta(days=3)
    base = session_cost(tariff, T0, stop, intervals)
    more = session_cost(tariff, T0, stop, [*intervals, Interval(T0, 300, extra_wh)], charging_ended=stop)
    greener = session_cost(
        tariff, T0, stop, [Interval(i.start, i.seconds, i.energy_wh, i.energy_wh) for i in intervals]
    )
    assert more.energy >= base.energy
    assert greener.energy <= base.energy
    assert base.excl_vat == base.energy + base.flat + base.time + base.parking
