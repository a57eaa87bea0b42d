"""Password rotation on the wire (pure; no I/O): the new HTTP Basic password a call of ours sets, and whether
the charger took it.

OCPP 1.6 (security extension): ChangeConfiguration of `AuthorizationKey`; OCPP 2.0.1 (A01): SetVariables of
`SecurityCtrlr.BasicAuthPassword`. The charger then reconnects with the new password; until it has, the old
one still opens (the gateway keeps both), so a charger that never received the change is not locked out.
"""

from __future__ import annotations

from typing import Any

MIN_PASSWORD, MAX_PASSWORD = 16, 40  # OCPP security profiles 1-2: 16-40 characters
TAKEN = frozenset({"Accepted", "RebootRequired"})  # RebootRequired: set, in force after the reboot


def _is_password(item: dict[str, Any]) -> bool:
    component = item.get("component") or {}
    variable = item.get("variable") or {}
    return component.get("name") == "SecurityCtrlr" and variable.get("name") == "BasicAuthPassword"


def new_password(action: str, payload: dict[str, Any]) -> tuple[str, str] | None:
    """(field, password) when the call sets the charger's Basic password, else None."""
    if action == "ChangeConfiguration" and payload.get("key") == "AuthorizationKey":
        return "value", str(payload.get("value", ""))
    if action == "SetVariables":
        for index, item in enumerate(payload.get("setVariableData") or []):
            if isinstance(item, dict) and _is_password(item):
                return f"setVariableData[{index}].attributeValue", str(item.get("attributeValue", ""))
    return None


def password_problem(action: str, payload: dict[str, Any]) -> str | None:
    """Why the password a call sets is not one (naming the field), or None."""
    found = new_password(action, payload)
    if found is None:
        return None
    field, password = found
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return f"{field}: a Basic-auth password has {MIN_PASSWORD}-{MAX_PASSWORD} characters, not {len(password)}"
    if not password.isascii() or not password.isprintable():
        return f"{field}: a Basic-auth password is printable ASCII"
    return None


def accepted_password(action: str, payload: dict[str, Any], answer: dict[str, Any]) -> str | None:
    """The new password when the charger's answer says it took it, else None."""
    found = new_password(action, payload)
    if found is None:
        return None
    if action == "ChangeConfiguration":
        return found[1] if answer.get("status") in TAKEN else None
    for item, result in zip(payload.get("setVariableData") or [], answer.get("setVariableResult") or [], strict=False):
        if _is_password(item) and isinstance(result, dict) and result.get("attributeStatus") in TAKEN:
            return str(item.get("attributeValue", ""))
    return None
