"""The new Basic-auth password a call sets, and whether the charger took it (chargepoints/credentials.py)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chargepoints.credentials import accepted_password, new_password, password_problem


def set_variables(password: str, component: str = "SecurityCtrlr") -> dict[str, Any]:
    other = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}, "attributeValue": "60"}
    mine = {"component": {"name": component}, "variable": {"name": "BasicAuthPassword"}, "attributeValue": password}
    return {"setVariableData": [other, mine]}


def test_what_sets_a_password() -> None:
    assert new_password("ChangeConfiguration", {"key": "AuthorizationKey", "value": "p" * 20}) == ("value", "p" * 20)
    assert new_password("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}) is None
    assert new_password("SetVariables", set_variables("q" * 20)) == ("setVariableData[1].attributeValue", "q" * 20)
    assert new_password("SetVariables", set_variables("q" * 20, component="Other")) is None
    assert new_password("Reset", {"type": "Soft"}) is None


def test_taken_only_when_the_charger_says_so() -> None:
    change = {"key": "AuthorizationKey", "value": "p" * 20}
    assert accepted_password("ChangeConfiguration", change, {"status": "Accepted"}) == "p" * 20
    assert accepted_password("ChangeConfiguration", change, {"status": "Rejected"}) is None
    assert accepted_password("ChangeConfiguration", change, {"status": "NotSupported"}) is None
    payload = set_variables("q" * 20)
    results = [{"attributeStatus": "Accepted"}, {"attributeStatus": "RebootRequired"}]
    assert accepted_password("SetVariables", payload, {"setVariableResult": results}) == "q" * 20
    results[1] = {"attributeStatus": "Rejected"}
    assert accepted_password("SetVariables", payload, {"setVariableResult": results}) is None


@given(st.text(max_size=60))
def test_a_password_is_16_to_40_printable_ascii_characters(password: str) -> None:
    problem = password_problem("ChangeConfiguration", {"key": "AuthorizationKey", "value": password})
    fits = 16 <= len(password) <= 40 and password.isascii() and password.isprintable()
    assert (problem is None) is fits
    if problem is not None:
        assert problem.startswith("value:")
