"""The commands module (OCPI 2.2.1 §13), CPO side: START_SESSION, STOP_SESSION, UNLOCK_CONNECTOR and
RESERVE_NOW mapped onto OCPP 1.6 and 2.0.1 calls, and the charger's answer read as a CommandResult.

The partner is answered at once with a CommandResponse (ACCEPTED: the command goes to the charger, with a
timeout); what the charger answers is sent later to the partner's `response_url` as a CommandResult. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roaming.envelope import INVALID_PARAMETERS, OcpiError, parse_datetime, text
from roaming.tokens import Token, parse_token

COMMANDS = ("START_SESSION", "STOP_SESSION", "UNLOCK_CONNECTOR", "RESERVE_NOW")
NOT_SUPPORTED = ("CANCEL_RESERVATION",)


@dataclass(frozen=True, slots=True)
class Command:
    kind: str
    response_url: str
    location_id: str | None = None
    evse_uid: str | None = None
    connector_id: str | None = None
    session_id: str | None = None
    token: Token | None = None
    reservation_id: str | None = None
    expiry_date: datetime | None = None
    authorization_reference: str | None = None

    @property
    def connector(self) -> int:
        """The OCPP connector (1.6) / EVSE (2.0.1) the command names: its OCPI connector id, else 1."""
        return int(self.connector_id) if self.connector_id else 1


def parse_command(kind: str, data: Any) -> Command:
    """The body of `POST commands/{kind}`; OcpiError 2001 naming the field."""
    if kind not in COMMANDS:
        raise OcpiError(INVALID_PARAMETERS, f"command: one of {', '.join(COMMANDS)}", http_status=404)
    if not isinstance(data, Mapping):
        raise OcpiError(INVALID_PARAMETERS, "command: expected an object")
    url = data.get("response_url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 255:
        raise OcpiError(INVALID_PARAMETERS, "response_url: an http(s) URL of at most 255 characters")
    fields: dict[str, Any] = {"kind": kind, "response_url": url}
    if kind == "STOP_SESSION":
        fields["session_id"] = text(data.get("session_id"), "session_id", 36)
        return Command(**fields)
    fields["location_id"] = text(data.get("location_id"), "location_id", 36)
    needs_evse = kind == "UNLOCK_CONNECTOR"
    fields["evse_uid"] = text(data.get("evse_uid"), "evse_uid", 36, optional=not needs_evse)
    fields["connector_id"] = text(data.get("connector_id"), "connector_id", 36, optional=not needs_evse)
    connector = fields["connector_id"]
    if connector is not None and (not connector.isascii() or not connector.isdecimal() or int(connector) > 2**31):
        raise OcpiError(INVALID_PARAMETERS, "connector_id: this CPO's connector ids are numbers")
    if kind in ("START_SESSION", "RESERVE_NOW"):
        fields["token"] = parse_token(data.get("token"))
        fields["authorization_reference"] = text(
            data.get("authorization_reference"), "authorization_reference", 36, optional=True
        )
        if fields["evse_uid"] is None and kind == "START_SESSION":
            raise OcpiError(INVALID_PARAMETERS, "evse_uid: required by this CPO (a location has several)")
    if kind == "RESERVE_NOW":
        fields["reservation_id"] = text(data.get("reservation_id"), "reservation_id", 36)
        fields["expiry_date"] = parse_datetime(data.get("expiry_date"), "expiry_date")
        if fields["evse_uid"] is None:
            raise OcpiError(INVALID_PARAMETERS, "evse_uid: required by this CPO")
    return Command(**fields)


def ocpp_call(command: Command, ocpp_version: str, *, transaction_id: int | str | None = None,
              remote_start_id: int = 1) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """The OCPP action and payload that carry START_SESSION, STOP_SESSION or UNLOCK_CONNECTOR (RESERVE_NOW
    goes through the platform's reservations). `transaction_id`: STOP_SESSION's, as the charger knows it."""
    v16 = ocpp_version == "1.6"
    if command.kind == "START_SESSION":
        assert command.token is not None
        if v16:
            return "RemoteStartTransaction", {"connectorId": command.connector, "idTag": command.token.uid}
        return "RequestStartTransaction", {
            "idToken": {"idToken": command.token.uid, "type": command.token.ocpp_type},
            "remoteStartId": remote_start_id,
            "evseId": command.connector,
        }
    if command.kind == "STOP_SESSION":
        if transaction_id is None:
            raise OcpiError(INVALID_PARAMETERS, "session_id: no such session")
        if v16:
            return "RemoteStopTransaction", {"transactionId": int(transaction_id)}
        return "RequestStopTransaction", {"transactionId": str(transaction_id)}
    if command.kind == "UNLOCK_CONNECTOR":
        if v16:
            return "UnlockConnector", {"connectorId": command.connector}
        return "UnlockConnector", {"evseId": command.connector, "connectorId": 1}
    raise ValueError(f"{command.kind} is not sent as one OCPP call")


def command_result(action: str, answer: Mapping[str, Any]) -> str:
    """The CommandResultType of a charger's answer."""
    status = answer.get("status")
    if action == "UnlockConnector":
        return {"Unlocked": "ACCEPTED", "NotSupported": "NOT_SUPPORTED"}.get(str(status), "FAILED")
    if action in ("ReserveNow",):
        return {"Accepted": "ACCEPTED", "Occupied": "EVSE_OCCUPIED", "Unavailable": "EVSE_INOPERATIVE",
                "Faulted": "EVSE_INOPERATIVE"}.get(str(status), "REJECTED")  # fmt: skip
    return "ACCEPTED" if status == "Accepted" else "REJECTED"


def command_response(result: str, timeout_s: int, message: str | None = None) -> dict[str, Any]:
    """The CommandResponse answered at once: ACCEPTED, NOT_SUPPORTED, REJECTED or UNKNOWN_SESSION."""
    out: dict[str, Any] = {"result": result, "timeout": timeout_s}
    if message:
        out["message"] = [{"language": "en", "text": message}]
    return out


def result_body(result: str, message: str | None = None) -> dict[str, Any]:
    """The CommandResult sent to the partner's response_url."""
    out: dict[str, Any] = {"result": result}
    if message:
        out["message"] = [{"language": "en", "text": message[:512]}]
    return out
