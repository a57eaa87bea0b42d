"""Firmware updates and diagnostics and log uploads: the requests sent, the status timeline charger report.

No I/O here: the URLs come from the gateway, which serves them; the timeline goes through the
`FileTimeline` port. Per version:
- 1.6: UpdateFirmware (a URL and a retrieve date, no answer status), the security extension's
  SignedUpdateFirmware (a requestId, the signing certificate and the signature), GetDiagnostics
  (answered with the file name it will upload), the security extension's GetLog;
- 2.0.1 and 2.1: UpdateFirmware with a requestId (signature optional), GetLog.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from chargepoints.ports import FileTimeline
from chargepoints.session import Handler, OcppSession, handles

FIRMWARE = "firmware"
DIAGNOSTICS = "diagnostics"  # 1.6 GetDiagnostics and every GetLog (1.6 security extension, 2.0.1)
KINDS = (FIRMWARE, DIAGNOSTICS)
LOG_TYPES = ("DiagnosticsLog", "SecurityLog")

# the charger's status notifications, and the timeline each belongs to
TIMELINE: dict[str, str] = {
    "FirmwareStatusNotification": FIRMWARE,
    "SignedFirmwareStatusNotification": FIRMWARE,
    "DiagnosticsStatusNotification": DIAGNOSTICS,
    "LogStatusNotification": DIAGNOSTICS,
}
# the status after which a request is over, as each version names it
FINISHED: dict[str, frozenset[str]] = {
    FIRMWARE: frozenset(
        {"Installed", "InstallationFailed", "DownloadFailed", "InvalidSignature", "InstallVerificationFailed"}
    ),
    DIAGNOSTICS: frozenset(
        {"Uploaded", "UploadFailed", "UploadFailure", "BadMessage", "NotSupportedOperation", "PermissionDenied"}
    ),
}


class FileRequestError(ValueError):
    """A firmware or log request that cannot be sent as asked (e.g. 1.6 signed without a signature)."""


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _retrying(payload: dict[str, Any], retries: int | None, retry_interval_s: int | None) -> dict[str, Any]:
    if retries is not None:
        payload["retries"] = retries
    if retry_interval_s is not None:
        payload["retryInterval"] = retry_interval_s
    return payload


def update_firmware(
    version: str,
    location: str,
    retrieve_ts: datetime,
    *,
    request_id: int,
    signed: bool = False,
    install_ts: datetime | None = None,
    signing_certificate: str | None = None,
    signature: str | None = None,
    retries: int | None = None,
    retry_interval_s: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """The action and payload that has the charger fetch `location` (1.6 signed: SignedUpdateFirmware)."""
    if version == "1.6" and not signed:
        payload: dict[str, Any] = {"location": location, "retrieveDate": _iso(retrieve_ts)}
        return "UpdateFirmware", _retrying(payload, retries, retry_interval_s)
    if signed and not (signing_certificate and signature):
        raise FileRequestError("signed: the firmware image has no signing certificate and signature")
    firmware: dict[str, Any] = {"location": location, "retrieveDateTime": _iso(retrieve_ts)}
    if install_ts is not None:
        firmware["installDateTime"] = _iso(install_ts)
    if signing_certificate and (signed or version != "1.6"):
        firmware["signingCertificate"] = signing_certificate
    if signature and (signed or version != "1.6"):
        firmware["signature"] = signature
    action = "SignedUpdateFirmware" if version == "1.6" else "UpdateFirmware"
    return action, _retrying({"requestId": request_id, "firmware": firmware}, retries, retry_interval_s)


def get_log(
    version: str,
    location: str,
    *,
    request_id: int,
    log_type: str | None = None,
    oldest_ts: datetime | None = None,
    latest_ts: datetime | None = None,
    retries: int | None = None,
    retry_interval_s: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """The action and payload that has the charger upload a log to `location`: 1.6 GetDiagnostics unless a
    log type is asked for (the security extension's GetLog), else GetLog (DiagnosticsLog by default)."""
    if log_type is not None and log_type not in LOG_TYPES:
        raise FileRequestError(f"log_type: one of {', '.join(LOG_TYPES)}")
    if version == "1.6" and log_type is None:
        payload: dict[str, Any] = {"location": location}
        if oldest_ts is not None:
            payload["startTime"] = _iso(oldest_ts)
        if latest_ts is not None:
            payload["stopTime"] = _iso(latest_ts)
        return "GetDiagnostics", _retrying(payload, retries, retry_interval_s)
    log: dict[str, Any] = {"remoteLocation": location}
    if oldest_ts is not None:
        log["oldestTimestamp"] = _iso(oldest_ts)
    if latest_ts is not None:
        log["latestTimestamp"] = _iso(latest_ts)
    payload = {"logType": log_type or "DiagnosticsLog", "requestId": request_id, "log": log}
    return "GetLog", _retrying(payload, retries, retry_interval_s)


def answer_status(action: str, answer: dict[str, Any]) -> tuple[str, str | None]:
    """(status, file name) from the charger's answer. 1.6 UpdateFirmware answers nothing: Accepted; 1.6
    GetDiagnostics answers the name of the file it will upload, none when it has nothing to send."""
    if action == "UpdateFirmware" and "status" not in answer:
        return "Accepted", None
    if action == "GetDiagnostics":
        name = answer.get("fileName")
        return ("Accepted", str(name)) if name else ("NoFile", None)
    filename = answer.get("filename")
    return str(answer.get("status", "Unknown")), str(filename) if filename else None


def timeline_handler(action: str) -> Handler:
    """The handler of a firmware, diagnostics or log status notification: a step of the charger's timeline."""

    async def handler(self: OcppSession, p: dict[str, Any]) -> dict[str, Any]:
        await self._central.file_status(self.id, action, str(p["status"]), p.get("requestId"), p)
        return {}

    handler.__name__ = f"on_{action}"
    return handles(action)(handler)


def add_timeline_handlers(session_class: type[OcppSession], actions: Callable[[str], bool]) -> None:
    """Give a session class a timeline handler for each status notification its version has."""
    for action in TIMELINE:
        if actions(action):
            setattr(session_class, f"on_{action}", timeline_handler(action))
    session_class.collect_handlers()


class FileStatuses:
    """Part of CentralSystem: a status notification kept as a charger event and a step of its timeline."""

    _files: FileTimeline | None
    now: Callable[[], datetime]

    record: Callable[[str, str, dict[str, Any]], Awaitable[None]]  # CentralSystem's

    async def file_status(
        self, charge_point_id: str, action: str, status: str, request_id: int | None, payload: dict[str, Any]
    ) -> None:
        await self.record(charge_point_id, action, payload)
        if self._files is not None:
            kind = TIMELINE[action]
            await self._files.file_status(charge_point_id, kind, action, status, request_id, self.now())
