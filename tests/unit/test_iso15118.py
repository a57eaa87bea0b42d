"""ISO 15118 smart charging rules (chargepoints.iso15118): charging needs, the EV's range, its schedule."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargepoints.iso15118 import (
    ChargingNeeds,
    NeedsRefused,
    SentLimit,
    check_schedule,
    ev_limit,
    parse_needs,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
AC = {"energyAmount": 20_000, "evMinCurrent": 6, "evMaxCurrent": 13, "evMaxVoltage": 400}


def needs(transfer: str = "AC_three_phase", departure: str | None = "2026-03-01T16:00:00Z", **params: Any) -> Any:
    charging: dict[str, Any] = {"requestedEnergyTransfer": transfer}
    if departure is not None:
        charging["departureTime"] = departure
    if transfer == "DC":
        charging["dcChargingParameters"] = params or {"evMaxCurrent": 200, "evMaxVoltage": 500, "evMaxPower": 50_000}
    else:
        charging["acChargingParameters"] = {**AC, **params}
    return {"evseId": 1, "chargingNeeds": charging}


def parsed_or_refused(payload: dict[str, Any]) -> ChargingNeeds | None:
    """The needs parsed; None when refused, with one of the reason codes K15 names and a reason."""
    try:
        return parse_needs(payload, NOW)
    except NeedsRefused as refused:
        code, why = refused.reason_code, str(refused)
    assert code in ("InvalidValue", "MissingParam", "UnsupportedParam")
    assert why
    return None


def test_ac_needs_in_coopgrid_units() -> None:
    parsed = parse_needs(needs(), NOW)
    assert parsed == ChargingNeeds(
        evse_id=1,
        transfer="AC_three_phase",
        departure_ts=datetime(2026, 3, 1, 16, tzinfo=UTC),
        energy_wh=20_000.0,
        min_current_a=6.0,
        max_current_a=13.0,
        max_power_w=None,
        max_voltage_v=400.0,
    )
    assert parsed.phases == 3
    assert parsed.ceiling_a(3) == 13.0


def test_dc_needs_take_the_power_and_without_it_current_times_voltage() -> None:
    parsed = parse_needs({**needs("DC"), "maxScheduleTuples": 3}, NOW)
    assert (parsed.dc, parsed.phases, parsed.max_power_w, parsed.energy_wh) == (True, None, 50_000.0, None)
    assert parsed.max_schedule_tuples == 3
    assert parsed.ceiling_a(3) == pytest.approx(50_000 / 690)
    assert parse_needs(needs("DC", evMaxCurrent=100, evMaxVoltage=400), NOW).max_power_w == 40_000.0


@pytest.mark.parametrize(
    ("payload", "code", "text"),
    [
        (needs(evMinCurrent=16), "InvalidValue", "evMinCurrent 16 A is above evMaxCurrent 13 A"),
        (needs(energyAmount=-1), "InvalidValue", "energyAmount -1 is below 0"),
        (needs(evMaxCurrent=0), "InvalidValue", "evMaxCurrent 0 is below 1"),
        (needs(departure="2026-03-01T11:00:00Z"), "InvalidValue", "departureTime is not in the future"),
        (needs(departure="tomorrow"), "InvalidValue", "departureTime is not an ISO 8601 date-time"),
        (
            {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "DC"}},
            "MissingParam",
            "DC needs dcChargingParameters",
        ),
        (
            {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase", "acChargingParameters": {}}},
            "MissingParam",
            "evMaxVoltage is missing",
        ),
        ({"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "WPT"}}, "UnsupportedParam", None),
        (
            {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "DC_BPT"}},
            "MissingParam",
            "DC_BPT needs dcChargingParameters",
        ),
        ({**needs(), "maxScheduleTuples": 0}, "InvalidValue", "maxScheduleTuples is below 1"),
    ],
)
def test_needs_that_cannot_be_used_are_refused_with_a_reason(payload: Any, code: str, text: str | None) -> None:
    with pytest.raises(NeedsRefused) as refused:
        parse_needs(payload, NOW)
    assert refused.value.reason_code == code
    if text is not None:
        assert str(refused.value) == text


def test_a_departure_without_a_zone_is_utc_and_none_is_none() -> None:
    assert parse_needs(needs(departure="2026-03-01T13:00:00"), NOW).departure_ts == NOW + timedelta(hours=1)
    assert parse_needs(needs(departure=None), NOW).departure_ts is None


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
PARAMS = st.dictionaries(
    st.sampled_from(
        ["energyAmount", "evMinCurrent", "evMaxCurrent", "evMaxVoltage", "evMaxPower", "stateOfCharge", "x"]
    ),
    st.integers(-10, 100_000) | JSONISH,
    max_size=6,
)


@given(
    transfer=st.sampled_from(["AC_single_phase", "AC_two_phase", "AC_three_phase", "DC"]) | st.text(max_size=8),
    params=PARAMS,
    departure=st.none() | st.datetimes(timezones=st.just(UTC)).map(lambda t: t.isoformat()) | st.text(max_size=25),
    tuples=st.none() | st.integers(-3, 5) | JSONISH,
)
def test_any_needs_parse_or_are_refused_and_what_parses_is_usable(
    transfer: str, params: dict[str, Any], departure: str | None, tuples: Any
) -> None:
    charging: dict[str, Any] = {"requestedEnergyTransfer": transfer, "departureTime": departure}
    charging["dcChargingParameters" if transfer == "DC" else "acChargingParameters"] = params
    payload: dict[str, Any] = {"evseId": 1, "chargingNeeds": charging, "maxScheduleTuples": tuples}
    parsed = parsed_or_refused(payload)
    if parsed is None:
        return
    assert parsed.departure_ts is None or parsed.departure_ts > NOW
    assert 0 <= parsed.min_current_a <= parsed.max_current_a
    assert parsed.energy_wh is None or parsed.energy_wh >= 0
    assert parsed.ceiling_a(3) > 0


def test_limits_are_held_within_the_ev_range() -> None:
    ac = parse_needs(needs(), NOW)
    assert ev_limit(ac, "A", 16.0, 3) == 13.0  # its maximum
    assert ev_limit(ac, "A", 10.0, 3) == 10.0
    assert ev_limit(ac, "A", 5.0, 3) == 0.0  # below its minimum: a pause
    assert ev_limit(ac, "W", 11_040.0, 3) == 8970.0  # 13 A x 3 x 230 V
    assert ev_limit(ac, "W", 3000.0, 3) == 0.0  # below 6 A x 3 x 230 V
    dc = parse_needs(needs("DC"), NOW)
    assert ev_limit(dc, "W", 60_000.0, 3) == 50_000.0
    assert ev_limit(dc, "A", 100.0, 3) == round(50_000 / 690, 1)
    assert ev_limit(dc, "A", 0.0, 3) == 0.0


@given(limit=st.floats(0, 500), unit=st.sampled_from(["A", "W"]), phases=st.integers(1, 3))
def test_a_held_limit_is_a_pause_or_within_the_range(limit: float, unit: Any, phases: int) -> None:
    ac = parse_needs(needs(), NOW)
    per = 1.0 if unit == "A" else phases * 230.0
    held = ev_limit(ac, unit, limit * per, phases)
    assert held <= limit * per + 0.05
    assert held == 0.0 or ac.min_current_a * per - 0.05 <= held <= ac.max_current_a * per + 0.05


SENT = SentLimit(transaction_id=7, unit="A", limit=13.0, phases=3)


def schedule(*periods: tuple[int, float], unit: str = "A", phases: int | None = None) -> dict[str, Any]:
    rows = [{"startPeriod": start, "limit": limit} for start, limit in periods]
    if phases is not None:
        for row in rows:
            row["numberPhases"] = phases
    return {"id": 1, "chargingRateUnit": unit, "chargingSchedulePeriod": rows}


def test_a_schedule_within_the_limit_sent_fits() -> None:
    assert check_schedule(schedule((0, 13.0), (600, 8.0), (1200, 0.0)), SENT) is None
    assert check_schedule(schedule((0, 13.04)), SENT) is None  # the profile's one decimal
    assert check_schedule(schedule((0, 8970.0), unit="W"), SENT) is None  # 13 A x 3 x 230 V
    assert check_schedule(schedule((0, 2990.0), unit="W", phases=1), SENT) is None
    assert check_schedule(schedule((0, 13.0)), SentLimit(7, "W", 8970.0, 3)) is None
    assert check_schedule(schedule((0, 13.1)), SentLimit(7, "W", 8970.0, 3)) is not None


@pytest.mark.parametrize(
    ("ev_schedule", "why"),
    [
        (schedule((0, 13.0), (900, 14.0)), "period 2 asks 14 A, above the 13 A sent"),
        (schedule((0, 9500.0), unit="W"), "period 1 asks 9500 W, above the 13 A sent"),
        (schedule((0, 10.0), (0, 8.0)), "the periods do not start at increasing offsets from 0"),
        (schedule((0, -1.0)), "period 1 has a negative limit"),
        ({"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": []}, None),
        ({"id": 1, "chargingRateUnit": "Wh", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 1}]}, None),
    ],
)
def test_a_schedule_above_or_unlike_the_limit_sent_does_not_fit(ev_schedule: dict[str, Any], why: str | None) -> None:
    found = check_schedule(ev_schedule, SENT)
    assert found is not None
    if why is not None:
        assert found == why


def test_phases_above_those_sent_do_not_fit() -> None:
    one_phase = SentLimit(7, "A", 16.0, 1)
    assert check_schedule(schedule((0, 10.0), phases=3), one_phase) == "period 1 uses 3 phases, above the 1 sent"


@given(
    limits=st.lists(st.floats(0, 40, allow_nan=False), min_size=1, max_size=6),
    sent=st.floats(0, 40, allow_nan=False).map(lambda x: round(x, 1)),
)
def test_a_schedule_fits_exactly_when_no_period_is_above_the_limit(limits: list[float], sent: float) -> None:
    limit = SentLimit(1, "A", sent, 3)
    found = check_schedule(schedule(*[(600 * i, v) for i, v in enumerate(limits)]), limit)
    bound = sent * (1 + 1e-3) + 0.05
    assert (found is None) == all(v <= bound for v in limits)


# -- OCPP 2.1: V2X parameters -------------------------------------------------------------------------------


def needs21(transfer: str, v2x: dict[str, Any] | None = None, **charging: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"requestedEnergyTransfer": transfer, "departureTime": "2026-03-01T16:00:00Z", **charging}
    if v2x is not None:
        body["v2xChargingParameters"] = v2x
    return {"evseId": 1, "chargingNeeds": body}


def test_an_ac_bpt_ev_states_its_range_in_power_and_its_discharge_is_kept() -> None:
    v2x = {
        "minChargePower": 1380,
        "maxChargePower": 7360,
        "minDischargePower": 0,
        "maxDischargePower": 5000,
        "evTargetEnergyRequest": 24_000,
        "evMinEnergyRequest": 6000,
        "evMaxEnergyRequest": 40_000,
        "targetSoC": 80,
    }
    parsed = parse_needs(
        needs21(
            "AC_BPT",
            v2x,
            controlMode="DynamicControl",
            mobilityNeedsMode="EVCC_SECC",
            availableEnergyTransfer=["AC_three_phase", "AC_BPT"],
        ),  # fmt: skip
        NOW,
    )
    assert (parsed.dc, parsed.phases, parsed.energy_wh) == (False, None, 24_000.0)
    assert (parsed.min_power_w, parsed.max_power_w, parsed.max_current_a) == (1380.0, 7360.0, float("inf"))
    assert parsed.ceiling_a(3) == pytest.approx(7360 / 690)
    assert parsed.floor_a(1) == pytest.approx(6.0)  # 1380 W on one phase
    assert ev_limit(parsed, "A", 16.0, 3) == round(7360 / 690, 1)
    assert ev_limit(parsed, "W", 1000.0, 3) == 0.0  # below its least power: a pause
    assert parsed.view() == {
        "energy_transfer": "AC_BPT",
        "available_transfers": ["AC_three_phase", "AC_BPT"],
        "control_mode": "DynamicControl",
        "mobility_needs_mode": "EVCC_SECC",
        "departure": "2026-03-01T16:00:00+00:00",
        "energy_wh": 24_000.0,
        "phases": None,
        "min_charge_current_a": 0.0,
        "max_charge_current_a": None,
        "min_charge_power_w": 1380.0,
        "max_charge_power_w": 7360.0,
        "min_discharge_current_a": None,
        "max_discharge_current_a": None,
        "min_discharge_power_w": 0.0,
        "max_discharge_power_w": 5000.0,
        "max_voltage_v": None,
        "soc": None,
        "target_soc": 80,
        "full_soc": None,
        "bulk_soc": None,
        "capacity_wh": None,
        "min_energy_wh": 6000.0,
        "max_energy_wh": 40_000.0,
        "energy_offer": None,
    }


def test_the_target_energy_comes_from_the_soc_and_capacity_else_the_energy_amount() -> None:
    dc = {"evMaxCurrent": 125, "evMaxVoltage": 400, "evMaxPower": 50_000, "evEnergyCapacity": 60_000,
          "stateOfCharge": 30, "energyAmount": 10_000, "fullSoC": 100, "bulkSoC": 80}  # fmt: skip
    by_soc = parse_needs(needs21("DC_BPT", {"targetSoC": 80, "maxChargePower": 11_000}, dcChargingParameters=dc), NOW)
    assert (by_soc.energy_wh, by_soc.max_power_w, by_soc.soc, by_soc.capacity_wh) == (30_000.0, 11_000.0, 30, 60_000.0)
    assert (by_soc.full_soc, by_soc.bulk_soc) == (100, 80)
    assert parse_needs(needs21("DC", None, dcChargingParameters=dc), NOW).energy_wh == 10_000.0  # no target SoC
    told = {"targetSoC": 80, "evTargetEnergyRequest": 28_500}
    assert parse_needs(needs21("DC_BPT", told, dcChargingParameters=dc), NOW).energy_wh == 28_500.0
    above = {"evTargetEnergyRequest": -2000}
    assert parse_needs(needs21("DC_BPT", above, dcChargingParameters=dc), NOW).energy_wh == 0.0
    # a DC EV's V2X current at its voltage bounds its power too
    current = parse_needs(needs21("DC_BPT", {"maxChargeCurrent": 50, "maxVoltage": 400}), NOW)
    assert (current.max_power_w, current.max_current_a) == (20_000.0, 50.0)


def test_per_phase_powers_bound_the_ev_by_its_weakest_phase() -> None:
    v2x = {"maxChargePower": 3680, "maxChargePower_L2": 3000, "maxChargePower_L3": 3680,
           "minChargePower": 1000, "minChargePower_L2": 1380}  # fmt: skip
    parsed = parse_needs(needs21("AC_BPT", v2x), NOW)
    assert (parsed.max_power_w, parsed.min_power_w) == (9000.0, 2760.0)


def test_an_ac_ev_with_a_v2x_power_is_held_by_both() -> None:
    parsed = parse_needs(needs21("AC_three_phase", {"maxChargePower": 7000}, acChargingParameters=AC), NOW)
    assert (parsed.max_current_a, parsed.max_power_w) == (13.0, 7000.0)
    assert ev_limit(parsed, "A", 16.0, 3) == 10.1
    assert ev_limit(parsed, "A", 16.0, 1) == 13.0


def test_the_energy_offer_is_kept_as_its_power_schedule() -> None:
    offer = {"evPowerSchedule": {"timeAnchor": "2026-03-01T12:00:00Z", "evPowerScheduleEntries": [
        {"duration": 3600, "power": -5000}, {"duration": 1800, "power": 0}]}}  # fmt: skip
    parsed = parse_needs(needs21("AC_BPT", {"maxChargePower": 11_000}, evEnergyOffer=offer), NOW)
    assert parsed.view()["energy_offer"] == [
        {"duration_s": 3600, "power_w": -5000.0},
        {"duration_s": 1800, "power_w": 0.0},
    ]


@pytest.mark.parametrize(
    ("payload", "code", "text"),
    [
        (
            needs21("AC_BPT", {"minChargePower": 8000, "maxChargePower": 7000}),
            "InvalidValue",
            "charge power: the minimum 8000 W is above the maximum 7000 W",
        ),
        (needs21("AC_BPT", {"maxDischargePower": -1}), "InvalidValue", "maxDischargePower -1 is below 0"),
        (
            needs21("AC_BPT", {"targetSoC": 101, "maxChargePower": 1}),
            "InvalidValue",
            "targetSoC 101 is not a percentage",
        ),
        (
            needs21("AC_BPT", {"minChargePower": 1000}),
            "MissingParam",
            "AC_BPT needs acChargingParameters or maxChargePower",
        ),
        (needs21("AC_BPT"), "MissingParam", "AC_BPT needs acChargingParameters"),
        (
            needs21("DC_BPT", {"targetSoC": 80}),
            "MissingParam",
            "DC_BPT needs maxChargePower, or maxChargeCurrent and maxVoltage",
        ),
        (
            needs21("AC_BPT", {"maxChargePower": 7000}, controlMode="Whenever"),
            "InvalidValue",
            "controlMode 'Whenever' is not one of ScheduledControl, DynamicControl",
        ),
    ],
)
def test_v2x_needs_that_cannot_be_used_are_refused_with_a_reason(payload: Any, code: str, text: str) -> None:
    with pytest.raises(NeedsRefused) as refused:
        parse_needs(payload, NOW)
    assert (refused.value.reason_code, str(refused.value)) == (code, text)


V2X_NAMES = [
    "minChargePower", "maxChargePower", "maxChargePower_L2", "maxChargePower_L3", "minChargePower_L2",
    "minDischargePower", "maxDischargePower", "minChargeCurrent", "maxChargeCurrent", "maxVoltage",
    "minDischargeCurrent", "maxDischargeCurrent", "targetSoC", "evTargetEnergyRequest", "evMinEnergyRequest",
    "evMaxEnergyRequest", "x",
]  # fmt: skip
V2X = st.dictionaries(
    st.sampled_from(V2X_NAMES), st.integers(-100, 60_000) | st.floats(-1e6, 1e6) | JSONISH, max_size=8
)
ALL_TRANSFERS = ["AC_single_phase", "AC_two_phase", "AC_three_phase", "DC", "AC_BPT", "AC_BPT_DER", "AC_DER",
                 "DC_BPT", "DC_ACDP", "DC_ACDP_BPT", "WPT"]  # fmt: skip


@given(
    transfer=st.sampled_from(ALL_TRANSFERS),
    params=st.none() | PARAMS | st.dictionaries(st.sampled_from(["evEnergyCapacity", "fullSoC"]), st.integers(-5, 120)),
    v2x=st.none() | V2X,
    extra=st.dictionaries(
        st.sampled_from(["controlMode", "mobilityNeedsMode", "availableEnergyTransfer", "evEnergyOffer"]),
        st.sampled_from(["ScheduledControl", "DynamicControl", "EVCC", "EVCC_SECC", ["DC", "AC_BPT"]]) | JSONISH,
        max_size=3,
    ),
    limit=st.floats(0, 100_000),
    unit=st.sampled_from(["A", "W"]),
    phases=st.integers(1, 3),
)
def test_any_v21_needs_parse_or_are_refused_and_what_parses_holds_a_limit_within_its_range(
    transfer: str, params: Any, v2x: Any, extra: dict[str, Any], limit: float, unit: Any, phases: int
) -> None:
    charging: dict[str, Any] = {"requestedEnergyTransfer": transfer, **extra}
    if params is not None:
        charging["dcChargingParameters" if transfer.startswith("DC") else "acChargingParameters"] = params
    if v2x is not None:
        charging["v2xChargingParameters"] = v2x
    parsed = parsed_or_refused({"evseId": 1, "chargingNeeds": charging})
    if parsed is None:
        return
    assert parsed.energy_wh is None or (math.isfinite(parsed.energy_wh) and parsed.energy_wh >= 0)
    ceiling, floor = parsed.ceiling_a(phases), parsed.floor_a(phases)
    assert math.isfinite(ceiling)
    assert ceiling >= 0
    assert floor >= 0
    json.dumps(parsed.view(), allow_nan=False)  # stored and shown as it is
    per = 1.0 if unit == "A" else phases * 230.0
    held = ev_limit(parsed, unit, limit, phases)
    assert 0 <= held <= limit + 0.05
    assert held == 0.0 or floor * per - 0.05 <= held <= ceiling * per + 0.05
