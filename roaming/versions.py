"""Versions and version details (OCPI 2.2.1 §6): what this CPO offers, and reading what a partner offers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from roaming.envelope import NO_MATCHING_ENDPOINTS, UNSUPPORTED_VERSION, OcpiError, PartnerError

VERSION = "2.2.1"

# (module identifier, interface role, path under the version's URL): the CPO side of each module
MODULES: tuple[tuple[str, str, str], ...] = (
    ("credentials", "SENDER", "credentials"),
    ("credentials", "RECEIVER", "credentials"),
    ("locations", "SENDER", "locations"),
    ("sessions", "SENDER", "sessions"),
    ("cdrs", "SENDER", "cdrs"),
    ("tariffs", "SENDER", "tariffs"),
    ("tokens", "RECEIVER", "tokens"),
    ("commands", "RECEIVER", "commands"),
)


def versions(base_url: str) -> list[dict[str, str]]:
    """The answer of `GET {base}/ocpi/versions`."""
    return [{"version": VERSION, "url": f"{base_url}/ocpi/{VERSION}"}]


def version_details(base_url: str) -> dict[str, Any]:
    """The answer of `GET {base}/ocpi/2.2.1`: every module's endpoint."""
    root = f"{base_url}/ocpi/{VERSION}"
    return {
        "version": VERSION,
        "endpoints": [{"identifier": i, "role": role, "url": f"{root}/{path}"} for i, role, path in MODULES],
    }


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")) or len(value) > 255:
        raise PartnerError(f"{where}: expected an http(s) URL of at most 255 characters")
    return value.rstrip("/")


def choose_version(data: Any) -> str:
    """The URL of 2.2.1 in a partner's versions list; OcpiError 3002 when it offers no 2.2.1."""
    if not isinstance(data, list):
        raise PartnerError("versions: expected a list")
    for index, item in enumerate(data):
        if isinstance(item, Mapping) and item.get("version") == VERSION:
            return _url(item.get("url"), f"versions.{index}.url")
    raise OcpiError(UNSUPPORTED_VERSION, f"the partner offers no OCPI {VERSION}")


def parse_endpoints(data: Any) -> dict[str, str]:
    """A partner's 2.2.1 version details as `{"module/ROLE": url}`; it must have credentials (else 3003)."""
    if not isinstance(data, Mapping) or data.get("version") != VERSION:
        raise PartnerError(f"version details: expected an object for version {VERSION}")
    raw = data.get("endpoints")
    if not isinstance(raw, list):
        raise PartnerError("version details.endpoints: expected a list")
    endpoints: dict[str, str] = {}
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise PartnerError(f"endpoints.{index}: expected an object")
        identifier, role = item.get("identifier"), item.get("role")
        if not isinstance(identifier, str) or role not in ("SENDER", "RECEIVER"):
            raise PartnerError(f"endpoints.{index}: identifier and role (SENDER or RECEIVER) are required")
        endpoints[f"{identifier}/{role}"] = _url(item.get("url"), f"endpoints.{index}.url")
    if not any(key.startswith("credentials/") for key in endpoints):
        raise OcpiError(NO_MATCHING_ENDPOINTS, "the partner's version details have no credentials endpoint")
    return endpoints
