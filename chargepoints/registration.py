"""Registration: what a charger that is not Accepted may send, and what may be sent to it (pure; no I/O).

OCPP 1.6 §4.2 and OCPP 2.0.1 B02/B03 say the same in two wordings:
- Pending: the charger sends no request but BootNotification, unless the central system asked for it:
  1.6 "unless it has been instructed ... with a TriggerMessage.req"; 2.0.1 B02.FR.09 "a message triggered by
  TriggerMessageRequest, GetBaseReportRequest, GetReportRequest". Anything else is answered with a
  SecurityError CallError (B02.FR.09; in 1.6 the same error, the one OCPP-J has for it). The central system
  may read and change the configuration, but RemoteStart/StopTransaction (1.6 §4.2 "not allowed") and
  RequestStart/StopTransaction (2.0.1 B02.FR.05: the station answers Rejected) are not sent.
- Rejected: nothing but BootNotification is served (B03.FR.07), and the central system initiates nothing
  (1.6 "SHOULD NOT initiate any", B03.FR.03) except a TriggerMessage for a BootNotification (TC_B_31: it may
  call the station back in before the retry interval is over).
"""

from __future__ import annotations

from typing import Any

ACCEPTED, PENDING, REJECTED = "Accepted", "Pending", "Rejected"

# The requestedMessage of a TriggerMessage (1.6 MessageTrigger, 1.6 security ExtendedTriggerMessage, 2.0.1
# MessageTriggerEnumType) -> the action the charger then sends.
TRIGGERED_ACTION = {
    "BootNotification": "BootNotification",
    "DiagnosticsStatusNotification": "DiagnosticsStatusNotification",
    "FirmwareStatusNotification": "FirmwareStatusNotification",
    "Heartbeat": "Heartbeat",
    "MeterValues": "MeterValues",
    "StatusNotification": "StatusNotification",
    "LogStatusNotification": "LogStatusNotification",
    "SignChargePointCertificate": "SignCertificate",
    "SignChargingStationCertificate": "SignCertificate",
    "SignV2GCertificate": "SignCertificate",
    "SignCombinedCertificate": "SignCertificate",
    "TransactionEvent": "TransactionEvent",
    "PublishFirmwareStatusNotification": "PublishFirmwareStatusNotification",
}
# 2.0.1 B02.FR.09: the reports a Pending station sends because we asked for them.
_REPORT_REQUESTS = {"GetBaseReport": "NotifyReport", "GetReport": "NotifyReport"}
_NOT_WHILE_PENDING = frozenset(
    {"RemoteStartTransaction", "RemoteStopTransaction", "RequestStartTransaction", "RequestStopTransaction"}
)


def solicited(action: str, payload: dict[str, Any], answer: dict[str, Any]) -> str | None:
    """The charger-initiated action a call of ours, answered so, asks the charger to send (None: none)."""
    if answer.get("status") != "Accepted":
        return None
    if action in ("TriggerMessage", "ExtendedTriggerMessage"):
        return TRIGGERED_ACTION.get(str(payload.get("requestedMessage")))
    return _REPORT_REQUESTS.get(action)


def admits(registration: str, action: str, asked_for: set[str] | frozenset[str]) -> bool:
    """True when a charger in `registration` may send `action` (`asked_for`: what we asked it to send)."""
    if registration == ACCEPTED or action == "BootNotification":
        return True
    return registration == PENDING and action in asked_for


def refusal(registration: str, action: str, payload: dict[str, Any]) -> str | None:
    """Why a call to a charger in `registration` must not be sent, or None when it may."""
    if registration == ACCEPTED:
        return None
    if action in ("TriggerMessage", "ExtendedTriggerMessage") and payload.get("requestedMessage") == "BootNotification":
        return None
    if registration == REJECTED:
        return "the charger's registration is Rejected: nothing but a TriggerMessage for BootNotification is sent"
    if action in _NOT_WHILE_PENDING:
        return f"{action} is not sent while the charger's registration is Pending"
    return None
