"""OCPP 2.1 tariffs, pure: a CoopGrid tariff said in 2.1 (billing.ocpp21) fits the 2.1 schema and, priced
by the simulated station (simulators.tariff21), costs what CoopGrid's own pricing says; the costDetails a
station reports are read (chargepoints.tariffs.station_cost) whatever the schema lets through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.ocpp21 import ocpp21_tariff
from billing.tariff import Interval, TariffError, parse_tariff, session_cost
from chargepoints.tariffs import station_cost
from chargepoints.validation import validator
from simulators.tariff21 import Period, cost_details, holds, unsupported_condition

START = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)  # a Monday evening
DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]

prices = st.decimals(min_value=0, max_value=50, places=2).map(float)
clock = st.tuples(st.integers(0, 23), st.sampled_from([0, 15, 30, 45])).map(lambda t: f"{t[0]:02d}:{t[1]:02d}")


@st.composite
def restrictions(draw: st.DrawFn) -> dict[str, Any] | None:
    if not draw(st.booleans()):
        return None
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["start_time"], out["end_time"] = draw(clock), draw(clock)
    if draw(st.booleans()):
        out["day_of_week"] = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True))
    if draw(st.booleans()):
        out["min_duration"] = draw(st.integers(0, 4 * 3600))
    if draw(st.booleans()):
        out["max_duration"] = draw(st.integers(0, 6 * 3600))
    return out or None


@st.composite
def tariffs(draw: st.DrawFn) -> dict[str, Any]:
    """OCPI tariffs CoopGrid takes, one VAT rate per dimension (as 2.1 can say them)."""
    vat = {d: draw(st.sampled_from([None, 0, 9, 21])) for d in ("ENERGY", "FLAT", "TIME", "PARKING_TIME")}
    elements = []
    for _ in range(draw(st.integers(1, 5))):
        kinds = draw(st.lists(st.sampled_from(list(vat)), min_size=1, max_size=3))
        components = []
        for kind in kinds:
            component: dict[str, Any] = {"type": kind, "price": draw(prices)}
            if vat[kind] is not None:
                component["vat"] = vat[kind]
            components.append(component)
        element: dict[str, Any] = {"price_components": components}
        found = draw(restrictions())
        if found is not None:
            element["restrictions"] = found
        elements.append(element)
    return {"id": "t-1", "currency": "EUR", "elements": elements}


@settings(max_examples=200, deadline=None)
@given(tariffs())
def test_every_tariff_said_in_21_fits_the_21_schema(raw: dict[str, Any]) -> None:
    said = ocpp21_tariff(parse_tariff(raw))
    validator("2.1", "SetDefaultTariff")({"evseId": 0, "tariff": said})
    validator("2.1", "ChangeTransactionTariff")({"transactionId": "tx", "tariff": said})
    assert unsupported_condition(said) is None  # the simulated station understands all of it


@settings(max_examples=200, deadline=None)
@given(
    tariffs(),
    # Wh per 15 minutes charging; no pause while it charges (a 2.1 station prices one as idle time, CoopGrid
    # parking only once charging has ended)
    st.lists(st.integers(1, 5000), min_size=1, max_size=24),
    st.integers(0, 150),  # minutes parked after
)
def test_the_station_prices_a_session_as_coopgrid_does(raw: dict[str, Any], slots: list[int], parked: int) -> None:
    tariff = parse_tariff(raw)
    said = ocpp21_tariff(tariff)
    intervals, periods = [], []
    at = START
    for wh in slots:
        intervals.append(Interval(at, 900.0, float(wh)))
        periods.append(Period(at, float(wh), said))
        at += timedelta(minutes=15)
    charging_ended = max((i.start + timedelta(seconds=i.seconds) for i in intervals if i.energy_wh > 0), default=START)
    stopped = at + timedelta(minutes=parked)
    # after the last energy the station is idle; it cuts periods at its meter values, one a minute
    periods = [p for p in periods if p.start < charging_ended]
    minute = charging_ended
    while minute < stopped:
        periods.append(Period(minute, 0.0, said))
        minute += timedelta(minutes=1)
    ours = session_cost(tariff, START, stopped, intervals, charging_ended=charging_ended)
    theirs = cost_details(periods, START, stopped, "EUR")["totalCost"]
    # each rounds its parts to the cent, CoopGrid its VAT as one sum: a cent or two apart at most
    assert abs(Decimal(repr(theirs["total"]["exclTax"])) - ours.excl_vat) <= Decimal("0.02")
    assert abs(Decimal(repr(theirs["total"]["inclTax"])) - ours.incl_vat) <= Decimal("0.04")


def test_the_translation_exactly() -> None:
    tariff = parse_tariff(
        {
            "id": "tou",
            "currency": "EUR",
            "elements": [
                {"price_components": [{"type": "FLAT", "price": 1, "vat": 21}], "restrictions": {"min_duration": 60}},
                {"price_components": [{"type": "FLAT", "price": 0.5, "vat": 21}]},
                {
                    "price_components": [{"type": "ENERGY", "price": 0.2, "vat": 21}, {"type": "TIME", "price": 1.2}],
                    "restrictions": {"start_time": "22:00", "end_time": "06:00", "day_of_week": ["SUNDAY", "MONDAY"]},
                },
                {"price_components": [{"type": "ENERGY", "price": 0.3, "vat": 21}]},
                {"price_components": [{"type": "ENERGY", "price": 9, "vat": 21}]},  # never reached
            ],
        }
    )
    assert ocpp21_tariff(tariff) == {
        "tariffId": "tou",
        "currency": "EUR",
        "energy": {
            "prices": [
                {
                    "priceKwh": 0.2,
                    "conditions": {
                        "startTimeOfDay": "22:00",
                        "endTimeOfDay": "06:00",
                        "dayOfWeek": ["Monday", "Sunday"],
                    },
                },
                {"priceKwh": 0.3},
            ],
            "taxRates": [{"type": "VAT", "tax": 21}],
        },
        "chargingTime": {
            "prices": [
                {
                    "priceMinute": 0.02,
                    "conditions": {
                        "startTimeOfDay": "22:00",
                        "endTimeOfDay": "06:00",
                        "dayOfWeek": ["Monday", "Sunday"],
                    },
                }
            ]
        },
        "fixedFee": {"prices": [{"priceFixed": 0.5}], "taxRates": [{"type": "VAT", "tax": 21}]},
    }


@pytest.mark.parametrize(
    ("elements", "where"),
    [
        (
            [{"price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 100}]}],
            "0.price_components.0.step_size",
        ),
        (
            [
                {
                    "price_components": [{"type": "ENERGY", "price": 0.3, "vat": 21}],
                    "restrictions": {"max_duration": 60},
                },
                {"price_components": [{"type": "ENERGY", "price": 0.3, "vat": 9}]},
            ],
            "elements.1.price_components.0.vat",
        ),
    ],
)
def test_what_21_cannot_say_is_refused_naming_the_field(elements: list[dict[str, Any]], where: str) -> None:
    with pytest.raises(TariffError, match=where.replace(".", r"\.")):
        ocpp21_tariff(parse_tariff({"id": "x", "currency": "EUR", "elements": elements}))


def test_conditions_as_the_station_reads_them() -> None:
    night = {"startTimeOfDay": "22:00", "endTimeOfDay": "06:00"}
    assert holds(night, datetime(2026, 3, 2, 23, 0, tzinfo=UTC), 0)
    assert holds(night, datetime(2026, 3, 2, 5, 59, tzinfo=UTC), 0)
    assert not holds(night, datetime(2026, 3, 2, 6, 0, tzinfo=UTC), 0)
    assert not holds({"dayOfWeek": ["Sunday"]}, START, 0)
    assert holds({"minTime": 60, "maxTime": 120}, START, 60)
    assert not holds({"minTime": 60, "maxTime": 120}, START, 120)
    assert not holds({"validToDate": "2026-03-02"}, START, 0)
    assert unsupported_condition({"energy": {"prices": [{"priceKwh": 1, "conditions": {"minPower": 5000}}]}}) == (
        "energy.minPower"
    )


# -- costDetails as reported ---------------------------------------------------------------------------------
numbers = st.one_of(st.integers(-(2**63), 2**63), st.floats(allow_nan=False, allow_infinity=False))
price = st.fixed_dictionaries({}, optional={"exclTax": numbers, "inclTax": numbers})
cost_details_strategy = st.fixed_dictionaries(
    {
        "totalCost": st.fixed_dictionaries(
            {
                "currency": st.text(max_size=3),
                "typeOfCost": st.sampled_from(["NormalCost", "MinCost", "MaxCost"]),
                "total": price,
            },
            optional={"fixed": price, "energy": price},
        ),
        "totalUsage": st.fixed_dictionaries(
            {
                "energy": numbers,
                "chargingTime": st.integers(-(2**31), 2**31 - 1),
                "idleTime": st.integers(-(2**31), 2**31 - 1),
            }
        ),
    },
    optional={
        "chargingPeriods": st.lists(
            st.fixed_dictionaries(
                {"startPeriod": st.just("2026-03-01T12:00:00Z")}, optional={"tariffId": st.text(max_size=60)}
            ),
            min_size=1,
            max_size=4,
        ),
        "failureToCalculate": st.booleans(),
        "failureReason": st.text(max_size=500),
    },
)


@settings(max_examples=300, deadline=None)
@given(cost_details_strategy)
def test_any_cost_details_the_schema_lets_through_are_read(details: dict[str, Any]) -> None:
    event = {
        "eventType": "Ended",
        "timestamp": "2026-03-01T12:00:00Z",
        "triggerReason": "EVDeparted",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "tx"},
        "costDetails": details,
    }
    validator("2.1", "TransactionEvent")(event)
    read = station_cost(details)
    total = details["totalCost"]["total"]
    if isinstance(total.get("inclTax"), float):
        assert read.incl_tax == total["inclTax"]
    assert read.currency == details["totalCost"]["currency"]
    assert len(read.tariff_ids) == len(set(read.tariff_ids))
    assert (read.failure is not None) == bool(details.get("failureToCalculate"))
    read.as_dict()  # JSON-ready


@settings(max_examples=300, deadline=None)
@given(
    restrictions(),
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)),
    st.integers(0, 8 * 3600),
)
def test_a_station_reads_each_restriction_as_coopgrid_does(
    found: dict[str, Any] | None, at: datetime, since_s: int
) -> None:
    element: dict[str, Any] = {"price_components": [{"type": "ENERGY", "price": 0.3}]}
    if found is not None:
        element["restrictions"] = found
    tariff = parse_tariff({"id": "r", "currency": "EUR", "elements": [element]})
    (price,) = ocpp21_tariff(tariff)["energy"]["prices"]
    assert holds(price.get("conditions"), at, since_s) == tariff.elements[0].restrictions.hold(at, since_s)
