"""Upgrading a charger's security profile (pure): what to send, per OCPP version.

1.6 (security whitepaper): ChangeConfiguration `SecurityProfile`; the charger then reconnects with the
new profile by itself. 2.0.1 and 2.1 (A05): SetNetworkProfile into a configuration slot with the new
profile, SetVariables `OCPPCommCtrlr.NetworkConfigurationPriority` to put that slot first, and a Reset
(OnIdle) so the station reconnects with it. Profiles only go up: the whitepaper and A05.FR.07 forbid a
downgrade over the air.
"""

from __future__ import annotations

from typing import Any

PROFILES = (1, 2, 3)


class UpgradeRefused(ValueError):
    """An upgrade that cannot be asked for; the message says why."""


def check_upgrade(current: int, wanted: int, *, tls: bool, has_password: bool) -> None:
    if wanted not in PROFILES:
        raise UpgradeRefused(f"security profile {wanted} does not exist (1, 2 or 3)")
    if wanted <= current:
        raise UpgradeRefused(f"the charger is at profile {current}: profiles only go up ({wanted} asked)")
    if wanted >= 2 and not tls:
        raise UpgradeRefused(f"profile {wanted} needs wss://: configure http.tls_cert first")
    if wanted in (1, 2) and not has_password:
        raise UpgradeRefused(
            f"profile {wanted} needs the charger's password: set it first (PUT /api/chargepoints/{{id}})"
        )


def upgrade_calls(version: str, profile: int, csms_url: str, slot: int = 1) -> list[tuple[str, dict[str, Any]]]:
    """The calls that move a charger to `profile`, in order; each must be Accepted before the next."""
    if version == "1.6":
        return [("ChangeConfiguration", {"key": "SecurityProfile", "value": str(profile)})]
    ocpp_version = "OCPP20"  # 2.0.1's enumeration has OCPP12, OCPP15, OCPP16, OCPP20; 2.1 adds OCPP21
    if version == "2.1":
        ocpp_version = "OCPP21"
    connection = {
        "ocppVersion": ocpp_version,
        "ocppTransport": "JSON",
        "ocppCsmsUrl": csms_url,
        "messageTimeout": 30,
        "securityProfile": profile,
        "ocppInterface": "Wired0",
    }
    priority = {
        "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": "NetworkConfigurationPriority"},
        "attributeValue": str(slot),
    }
    return [
        ("SetNetworkProfile", {"configurationSlot": slot, "connectionData": connection}),
        ("SetVariables", {"setVariableData": [priority]}),
        ("Reset", {"type": "OnIdle"}),
    ]


def accepted(action: str, answer: dict[str, Any]) -> bool:
    """Whether the charger took the step (a Reset it schedules for later counts: it will reconnect)."""
    if action == "SetVariables":
        results = answer.get("setVariableResult") or []
        return bool(results) and all(r.get("attributeStatus") in ("Accepted", "RebootRequired") for r in results)
    if action == "Reset":
        return answer.get("status") in ("Accepted", "Scheduled")
    return answer.get("status") in ("Accepted", "RebootRequired")
