"""The registration rules, table-driven (chargepoints/registration.py: pure)."""

from __future__ import annotations

import pytest

from chargepoints.registration import admits, refusal, solicited


@pytest.mark.parametrize(
    ("registration", "action", "asked_for", "admitted"),
    [
        ("Accepted", "StatusNotification", set(), True),
        ("Pending", "BootNotification", set(), True),
        ("Rejected", "BootNotification", set(), True),
        ("Pending", "StatusNotification", set(), False),
        ("Pending", "StatusNotification", {"StatusNotification"}, True),
        ("Pending", "Heartbeat", {"StatusNotification"}, False),
        ("Pending", "NotifyReport", {"NotifyReport"}, True),
        ("Rejected", "StatusNotification", {"StatusNotification"}, False),
    ],
)
def test_admits(registration: str, action: str, asked_for: set[str], admitted: bool) -> None:
    assert admits(registration, action, asked_for) is admitted


@pytest.mark.parametrize(
    ("action", "payload", "answer", "asked"),
    [
        ("TriggerMessage", {"requestedMessage": "MeterValues"}, {"status": "Accepted"}, "MeterValues"),
        ("TriggerMessage", {"requestedMessage": "MeterValues"}, {"status": "Rejected"}, None),
        (
            "ExtendedTriggerMessage",
            {"requestedMessage": "SignChargePointCertificate"},
            {"status": "Accepted"},
            "SignCertificate",
        ),
        ("TriggerMessage", {"requestedMessage": "SignV2GCertificate"}, {"status": "Accepted"}, "SignCertificate"),
        ("GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"}, {"status": "Accepted"}, "NotifyReport"),
        ("GetReport", {"requestId": 1}, {"status": "EmptyResultSet"}, None),
        ("GetVariables", {}, {"getVariableResult": []}, None),
    ],
)
def test_solicited(action: str, payload: dict[str, object], answer: dict[str, object], asked: str | None) -> None:
    assert solicited(action, payload, answer) == asked


@pytest.mark.parametrize(
    ("registration", "action", "payload", "refused"),
    [
        ("Accepted", "RemoteStartTransaction", {}, False),
        ("Pending", "GetConfiguration", {}, False),
        ("Pending", "RemoteStartTransaction", {}, True),
        ("Pending", "RequestStopTransaction", {}, True),
        ("Rejected", "GetVariables", {}, True),
        ("Rejected", "TriggerMessage", {"requestedMessage": "BootNotification"}, False),
        ("Rejected", "TriggerMessage", {"requestedMessage": "Heartbeat"}, True),
    ],
)
def test_refusal(registration: str, action: str, payload: dict[str, object], refused: bool) -> None:
    assert (refusal(registration, action, payload) is not None) is refused
