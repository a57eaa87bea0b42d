"""Requests split by ItemsPerMessage/BytesPerMessage and answers merged (chargepoints/device_model.py: pure)."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargepoints.device_model import BYTES, ITEMS, frame_bytes, limit_of, merge, split, stored_limit

SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=SURROGATES), min_size=1, max_size=30)
item = st.builds(lambda c, v: {"component": {"name": c}, "variable": {"name": v}}, names, names)


@given(
    st.lists(item, min_size=1, max_size=40),
    st.one_of(st.none(), st.integers(1, 10)),
    st.one_of(st.none(), st.integers(100, 2000)),
)
def test_parts_hold_every_item_in_order_within_both_limits(
    items: list[dict[str, Any]], max_items: int | None, max_bytes: int | None
) -> None:
    payload = {"getVariableData": items}
    parts = split("GetVariables", payload, max_items, max_bytes)
    assert [i for part in parts for i in part["getVariableData"]] == items
    for part in parts:
        entries = part["getVariableData"]
        assert entries
        if max_items is not None:
            assert len(entries) <= max_items
        if max_bytes is not None and len(entries) > 1:
            assert frame_bytes("GetVariables", part) <= max_bytes
    if max_items is None and max_bytes is None:
        assert parts == [payload]


@given(st.lists(item, min_size=2, max_size=20), st.integers(100, 2000))
def test_a_part_is_cut_only_when_the_next_item_would_not_fit(items: list[dict[str, Any]], max_bytes: int) -> None:
    parts = split("SetVariables", {"setVariableData": items}, None, max_bytes)
    for part, following in zip(parts, parts[1:], strict=False):
        grown = {"setVariableData": [*part["setVariableData"], following["setVariableData"][0]]}
        assert frame_bytes("SetVariables", grown) > max_bytes


def test_other_fields_go_with_every_part_and_results_are_merged_in_order() -> None:
    parts = split(
        "GetReport", {"requestId": 7, "componentVariable": [{"component": {"name": n}} for n in "abc"]}, 2, None
    )
    assert [p["requestId"] for p in parts] == [7, 7]
    assert merge("GetReport", [{"status": "EmptyResultSet"}, {"status": "Accepted"}]) == {"status": "Accepted"}
    assert merge("GetReport", [{"status": "Rejected"}, {"status": "EmptyResultSet"}]) == {"status": "Rejected"}
    answers = [{"clearMonitoringResult": [{"id": 1}]}, {"clearMonitoringResult": [{"id": 2}, {"id": 3}]}]
    assert merge("ClearVariableMonitoring", answers) == {"clearMonitoringResult": [{"id": 1}, {"id": 2}, {"id": 3}]}
    assert split("Reset", {"type": "OnIdle"}, 1, 10) == [{"type": "OnIdle"}]


@pytest.mark.parametrize(
    ("component", "variable", "instance", "value", "found"),
    [
        ("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables", "4", (ITEMS, "GetVariables", 4)),
        ("DeviceDataCtrlr", "BytesPerMessage", "SetVariables", " 900 ", (BYTES, "SetVariables", 900)),
        ("MonitoringCtrlr", "ItemsPerMessage", "SetVariableMonitoring", "2", (ITEMS, "SetVariableMonitoring", 2)),
        ("MonitoringCtrlr", "ItemsPerMessage", "GetVariables", "2", None),  # not MonitoringCtrlr's
        ("DeviceDataCtrlr", "ItemsPerMessage", None, "4", None),
        ("DeviceDataCtrlr", "ItemsPerMessage", "Reset", "4", None),
        ("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables", "0", None),
        ("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables", "-3", None),
        ("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables", "٣", None),  # a decimal digit, not ASCII
        ("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables", "99999999999", None),
        ("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables", None, None),
    ],
)
def test_limit_of(component: str, variable: str, instance: str | None, value: object, found: object) -> None:
    assert limit_of(component, variable, instance, value) == found


@given(st.text(max_size=20))
def test_any_reported_value_is_a_positive_limit_or_none(value: str) -> None:
    found = limit_of("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables", value)
    assert found is None or 0 < found[2] < 2**31


@pytest.mark.parametrize(
    ("variable", "attribute", "found"),
    [
        ("ItemsPerMessage[GetVariables]", "Actual", (ITEMS, "GetVariables", 3)),
        ("ItemsPerMessage[GetVariables]", "MaxSet", None),
        ("ItemsPerMessage", "Actual", None),
        ("ItemsPerMessage[GetVariables", "Actual", None),
    ],
)
def test_stored_limit(variable: str, attribute: str, found: object) -> None:
    assert stored_limit("DeviceDataCtrlr", variable, attribute, "3") == found
