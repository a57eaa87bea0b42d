"""The credentials module (OCPI 2.2.1 §7): the token A/B/C handshake, registration and unregistration.

The operator creates a partner and hands it token A and this CPO's versions URL out of band. The partner
(an eMSP) calls `POST credentials` with token A and its own credentials: token B (the token this CPO uses
to call it) and its versions URL. This CPO fetches the partner's versions and 2.2.1 details with token B,
then answers with its own credentials holding token C, the only token the partner uses from then on
(token A is spent). `PUT` does it again (a new token B, URL or version: a new token C), `GET` shows the
credentials in force, `DELETE` unregisters (both tokens forgotten). Pure, with the partner reached
through the PartnerApi port; tokens are made by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from roaming.envelope import (
    INVALID_PARAMETERS,
    UNABLE_TO_USE_CLIENT_API,
    OcpiError,
    PartnerError,
    text,
)
from roaming.ports import PartnerApi
from roaming.versions import choose_version, parse_endpoints

ROLES = ("CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP")
COUNTRY = re.compile(r"[A-Z]{2}")
PARTY = re.compile(r"[A-Z0-9]{3}")
TOKEN = re.compile(r"[!-~]{1,64}")  # printable ASCII without spaces: it travels in a header

PENDING, REGISTERED, UNREGISTERED = "pending", "registered", "unregistered"


@dataclass(frozen=True, slots=True)
class Role:
    role: str
    country_code: str
    party_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Credentials:
    token: str
    url: str
    roles: tuple[Role, ...]


def parse_credentials(data: Any) -> Credentials:
    """A partner's Credentials object; OcpiError 2001 naming the field when it is not one."""
    if not isinstance(data, Mapping):
        raise OcpiError(INVALID_PARAMETERS, "credentials: expected an object")
    token = data.get("token")
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        raise OcpiError(INVALID_PARAMETERS, "token: 1 to 64 printable ASCII characters, no spaces")
    url = data.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 255:
        raise OcpiError(INVALID_PARAMETERS, "url: an http(s) URL of at most 255 characters")
    raw_roles = data.get("roles")
    if not isinstance(raw_roles, list) or not raw_roles:
        raise OcpiError(INVALID_PARAMETERS, "roles: at least one role")
    roles = []
    for index, raw in enumerate(raw_roles):
        where = f"roles.{index}"
        if not isinstance(raw, Mapping):
            raise OcpiError(INVALID_PARAMETERS, f"{where}: expected an object")
        role, country, party = raw.get("role"), raw.get("country_code"), raw.get("party_id")
        if role not in ROLES:
            raise OcpiError(INVALID_PARAMETERS, f"{where}.role: one of {', '.join(ROLES)}")
        if not isinstance(country, str) or not COUNTRY.fullmatch(country):
            raise OcpiError(INVALID_PARAMETERS, f"{where}.country_code: two capital letters (ISO 3166-1)")
        if not isinstance(party, str) or not PARTY.fullmatch(party):
            raise OcpiError(INVALID_PARAMETERS, f"{where}.party_id: three capital letters or digits")
        details = raw.get("business_details")
        if not isinstance(details, Mapping):
            raise OcpiError(INVALID_PARAMETERS, f"{where}.business_details: expected an object")
        name = text(details.get("name"), f"{where}.business_details.name", 100)
        assert name is not None
        roles.append(Role(role, country, party, name))
    return Credentials(token, url.rstrip("/"), tuple(roles))


def our_credentials(token: str, versions_url: str, party: tuple[str, str], name: str) -> dict[str, Any]:
    """This CPO's Credentials object, holding the token the partner is to use (token C)."""
    country, party_id = party
    return {
        "token": token,
        "url": versions_url,
        "roles": [{"role": "CPO", "country_code": country, "party_id": party_id, "business_details": {"name": name}}],
    }


@dataclass(frozen=True, slots=True)
class Registration:
    """What the handshake learnt of a partner: the token to call it with, where, its roles."""

    token_b: str
    versions_url: str
    version_url: str
    endpoints: dict[str, str]  # "module/ROLE" -> URL
    roles: tuple[Role, ...]


async def register(credentials: Credentials, partner: PartnerApi) -> Registration:
    """Fetch the partner's versions and 2.2.1 details with its token B. OcpiError 3001 when its API cannot be
    used, 3002 when it has no 2.2.1, 3003 when the details name no credentials endpoint."""
    try:
        version_url = choose_version(await partner.get(credentials.url, credentials.token))
        endpoints = parse_endpoints(await partner.get(version_url, credentials.token))
    except PartnerError as exc:
        raise OcpiError(UNABLE_TO_USE_CLIENT_API, f"the partner's versions could not be read: {exc}") from None
    return Registration(credentials.token, credentials.url, version_url, endpoints, credentials.roles)


def check_transition(method: str, state: str, with_token_a: bool) -> None:
    """Which credentials calls a partner may make in its state: POST with token A while pending; GET, PUT
    and DELETE with token C while registered. Otherwise 405, as OCPI says."""
    allowed = (method == "POST" and with_token_a and state == PENDING) or (
        method in ("GET", "PUT", "DELETE") and not with_token_a and state == REGISTERED
    )
    if not allowed:
        why = "registered already: use PUT" if method == "POST" else "not registered: POST with token A first"
        raise OcpiError(INVALID_PARAMETERS, f"credentials {method}: {why}", http_status=405)
