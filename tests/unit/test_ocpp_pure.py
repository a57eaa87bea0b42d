"""Pure OCPP helpers: meter normalisation, charging profiles, subprotocol choice."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.messages import Call, _validate_payload

from chargepoints.meter import normalise
from chargepoints.profiles import tx_profile_16
from gateway.api.ocpp_endpoint import choose_subprotocol


def test_energy_in_kwh_is_converted() -> None:
    reading = normalise([{"value": "12.5", "unit": "kWh", "measurand": "Energy.Active.Import.Register"}])
    assert reading.energy_wh == 12_500.0


def test_default_measurand_is_the_energy_register() -> None:
    assert normalise([{"value": "42"}]).energy_wh == 42.0


def test_power_phases_are_summed_and_current_is_the_highest_phase() -> None:
    reading = normalise(
        [
            {"value": "2.3", "unit": "kW", "measurand": "Power.Active.Import", "phase": "L1"},
            {"value": "2300", "unit": "W", "measurand": "Power.Active.Import", "phase": "L2"},
            {"value": "10", "measurand": "Current.Import", "phase": "L1"},
            {"value": "9.5", "measurand": "Current.Import", "phase": "L2"},
            {"value": "0.2", "measurand": "Current.Import", "phase": "N"},
        ]
    )
    assert reading.power_w == pytest.approx(4600.0)
    assert reading.current_a == 10.0


def test_total_power_wins_over_phases_and_unknown_measurands_are_ignored() -> None:
    reading = normalise(
        [
            {"value": "1000", "measurand": "Power.Active.Import", "phase": "L1"},
            {"value": "3000", "measurand": "Power.Active.Import"},
            {"value": "77", "measurand": "Vendor.Banana"},
            {"value": "not a number", "measurand": "Current.Import"},
        ]
    )
    assert reading.power_w == 3000.0
    assert reading.current_a is None


sampled = st.fixed_dictionaries(
    {"value": st.one_of(st.text(max_size=8), st.floats(allow_nan=True).map(str))},
    optional={
        "unit": st.sampled_from(["Wh", "kWh", "W", "kW", "A", "V", "Celsius", ""]),
        "measurand": st.sampled_from(
            ["Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage", "X"]
        ),
        "phase": st.sampled_from(["L1", "L2", "L3", "N", "L1-N", ""]),
    },
)


@given(st.lists(sampled, max_size=12))
def test_normalise_never_raises(values: list[dict[str, Any]]) -> None:
    reading = normalise(values)
    for field in (reading.energy_wh, reading.power_w, reading.current_a):
        assert field is None or isinstance(field, float)


@given(
    connector=st.integers(min_value=0, max_value=10),
    limit=st.floats(min_value=0, max_value=80, allow_nan=False),
    tx=st.one_of(st.none(), st.integers(min_value=1, max_value=2**31 - 1)),
    phases=st.sampled_from([None, 1, 3]),
)
def test_profile_payload_is_schema_valid(connector: int, limit: float, tx: int | None, phases: int | None) -> None:
    payload = tx_profile_16(connector, limit, tx, phases)
    _validate_payload(Call("1", "SetChargingProfile", payload), "1.6")  # raises when invalid
    profile = payload["csChargingProfiles"]
    assert profile["chargingProfilePurpose"] == ("TxProfile" if tx is not None else "TxDefaultProfile")
    assert profile["chargingSchedule"]["chargingRateUnit"] == "A"
    assert abs(profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] - limit) <= 0.05


@pytest.mark.parametrize(
    ("offered", "strict", "chosen"),
    [
        (None, False, "ocpp1.6"),  # chargers that send no header are 1.6
        (None, True, None),
        ("ocpp1.6", False, "ocpp1.6"),
        ("ocpp1.5, ocpp1.6", False, "ocpp1.6"),
        ("ocpp1.2,ocpp1.5", False, None),
        ("ocpp2.0.1", False, None),  # not offered by this build's central system
    ],
)
def test_subprotocol_choice(offered: str | None, strict: bool, chosen: str | None) -> None:
    assert choose_subprotocol(offered, ("1.6",), strict) == chosen
