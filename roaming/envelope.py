"""The OCPI 2.2.1 response envelope, its status codes and the one family of errors (no I/O here).

Every OCPI answer is `{"data", "status_code", "status_message", "timestamp"}`; `status_code` 1xxx is
success, 2xxx an error of the client, 3xxx of the server. `OcpiError` carries the code and the HTTP status an
edge answers with; `PartnerError` is a partner's answer that is not one we can use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SUCCESS = 1000
CLIENT_ERROR = 2000
INVALID_PARAMETERS = 2001
NOT_ENOUGH_INFORMATION = 2002
UNKNOWN_LOCATION = 2003
UNKNOWN_TOKEN = 2004
SERVER_ERROR = 3000
UNABLE_TO_USE_CLIENT_API = 3001
UNSUPPORTED_VERSION = 3002
NO_MATCHING_ENDPOINTS = 3003


class RoamingError(Exception):
    """The base of every error of the roaming package."""


class OcpiError(RoamingError):
    """An OCPI error to answer: its status code, message and HTTP status."""

    def __init__(self, status_code: int, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.http_status = http_status


class PartnerError(RoamingError):
    """A partner answered with something that is not a usable OCPI answer (or an OCPI error)."""


def iso(ts: datetime) -> str:
    """OCPI DateTime: UTC, seconds, `Z`."""
    return ts.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_datetime(value: Any, where: str) -> datetime:
    """An OCPI DateTime (RFC 3339; without an offset it is UTC, as OCPI says)."""
    if not isinstance(value, str) or not 0 < len(value) <= 40:
        raise OcpiError(INVALID_PARAMETERS, f"{where}: expected a date-time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise OcpiError(INVALID_PARAMETERS, f"{where}: expected a date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def envelope(data: Any, now: datetime, status_code: int = SUCCESS, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status_code": status_code, "timestamp": iso(now)}
    if data is not None:
        body["data"] = data
    body["status_message"] = message or ("Success" if status_code < 2000 else "Error")
    return body


@dataclass(frozen=True, slots=True)
class Envelope:
    data: Any
    status_code: int
    status_message: str | None


def parse_envelope(body: Any) -> Envelope:
    """A partner's answer; PartnerError unless it is an envelope (whatever its status code)."""
    if not isinstance(body, Mapping):
        raise PartnerError("the answer is not an OCPI response envelope (an object)")
    code = body.get("status_code")
    if isinstance(code, bool) or not isinstance(code, int) or not 1000 <= code <= 4999:
        raise PartnerError("the answer has no OCPI status_code (1000-4999)")
    message = body.get("status_message")
    return Envelope(body.get("data"), code, message if isinstance(message, str) else None)


def text(value: Any, where: str, max_length: int, *, optional: bool = False) -> str | None:
    """An OCPI string field of at most `max_length` printable characters."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= max_length or not value.isprintable():
        raise OcpiError(INVALID_PARAMETERS, f"{where}: expected a string of 1 to {max_length} printable characters")
    return value
