"""Lenient repair of real chargers' quirks, guided by the OCPP 1.6 schemas."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, MessageType, _validate_payload, get_validator

from chargepoints.lenient import repair


def schema(action: str) -> dict[str, Any]:
    return dict(get_validator(MessageType.Call, action, "1.6").schema)


def test_over_long_serial_is_truncated() -> None:
    payload = {"chargePointVendor": "V", "chargePointModel": "M", "chargePointSerialNumber": "S" * 33}
    fixed, fixes = repair(schema("BootNotification"), payload)
    assert fixed["chargePointSerialNumber"] == "S" * 25
    assert fixes == [".chargePointSerialNumber: truncated from 33 to 25 characters"]
    _validate_payload(Call("1", "BootNotification", fixed), "1.6")


def test_enum_case_is_corrected_and_unknown_measurands_dropped() -> None:
    payload = {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": "2026-01-01T00:00:00Z",
                "sampledValue": [
                    {"value": "1", "measurand": "energy.active.import.register", "unit": "wh"},
                    {"value": "2", "measurand": "Vendor.Specific.Thing"},
                ],
            }
        ],
    }
    fixed, fixes = repair(schema("MeterValues"), payload)
    values = fixed["meterValue"][0]["sampledValue"]
    assert values == [{"value": "1", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
    assert len(fixes) == 3
    _validate_payload(Call("1", "MeterValues", fixed), "1.6")


def test_wrong_types_are_not_coerced() -> None:
    payload = {"connectorId": "1", "errorCode": "NoError", "status": "Available"}
    fixed, fixes = repair(schema("StatusNotification"), payload)
    assert fixed == payload
    assert fixes == []
    with pytest.raises(OCPPError):
        _validate_payload(Call("1", "StatusNotification", fixed), "1.6")


def test_top_level_unknown_enum_is_left_for_validation_to_reject() -> None:
    payload = {"connectorId": 1, "errorCode": "Error", "status": "Available"}
    fixed, _ = repair(schema("StatusNotification"), payload)
    assert fixed["errorCode"] == "Error"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4),
    max_leaves=20,
)


@given(
    action=st.sampled_from(["BootNotification", "MeterValues", "StatusNotification", "StartTransaction"]),
    payload=st.dictionaries(st.text(max_size=25), json_values, max_size=6),
)
def test_repair_never_raises_and_is_idempotent(action: str, payload: dict[str, Any]) -> None:
    once, _ = repair(schema(action), payload)
    twice, fixes = repair(schema(action), once)
    assert twice == once
    assert fixes == []
