"""The tokens module (OCPI 2.2.1 §12), CPO side: tokens an eMSP pushes or this CPO pulls, and real-time
authorization (`POST {tokens}/{uid}/authorize`) answers. Pure: parsers and the rule of what a token means
to a charger."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from roaming.credentials import COUNTRY, PARTY
from roaming.envelope import INVALID_PARAMETERS, OcpiError, iso, parse_datetime, text

TOKEN_TYPES = ("AD_HOC_USER", "APP_USER", "OTHER", "RFID")
WHITELIST = ("ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER")
ALLOWED = ("ALLOWED", "BLOCKED", "EXPIRED", "NO_CREDIT", "NOT_ALLOWED")
OCPP_TYPES = {"RFID": "ISO14443", "APP_USER": "eMAID", "AD_HOC_USER": "Central", "OTHER": "Central"}


@dataclass(frozen=True, slots=True)
class Token:
    country_code: str
    party_id: str
    uid: str
    type: str
    contract_id: str
    issuer: str
    valid: bool
    whitelist: str
    last_updated: datetime
    visual_number: str | None = None
    group_id: str | None = None
    language: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "country_code": self.country_code,
            "party_id": self.party_id,
            "uid": self.uid,
            "type": self.type,
            "contract_id": self.contract_id,
            "issuer": self.issuer,
            "valid": self.valid,
            "whitelist": self.whitelist,
            "last_updated": iso(self.last_updated),
        }
        for key in ("visual_number", "group_id", "language"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @property
    def ocpp_type(self) -> str:
        """Its OCPP 2.0.1 IdTokenEnumType (the local list's, RequestStartTransaction's)."""
        return OCPP_TYPES.get(self.type, "Central")

    @property
    def id_tag_status(self) -> str:
        """What a charger is told of it (OCPP): Accepted when valid and whitelisted, else Blocked. A token
        whitelisted NEVER needs the eMSP's real-time authorization: Invalid for the charger's own lists."""
        if not self.valid:
            return "Blocked"
        return "Invalid" if self.whitelist == "NEVER" else "Accepted"


def _choice(value: Any, where: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise OcpiError(INVALID_PARAMETERS, f"{where}: one of {', '.join(options)}")
    return str(value)


def _fields(data: Mapping[str, Any], partial: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def given(key: str) -> bool:
        return not partial or key in data

    if given("country_code"):
        value = data.get("country_code")
        if not isinstance(value, str) or not COUNTRY.fullmatch(value):
            raise OcpiError(INVALID_PARAMETERS, "country_code: two capital letters")
        out["country_code"] = value
    if given("party_id"):
        value = data.get("party_id")
        if not isinstance(value, str) or not PARTY.fullmatch(value):
            raise OcpiError(INVALID_PARAMETERS, "party_id: three capital letters or digits")
        out["party_id"] = value
    for key, length in (("uid", 36), ("contract_id", 36), ("issuer", 64)):
        if given(key):
            out[key] = text(data.get(key), key, length)
    if given("type"):
        out["type"] = _choice(data.get("type"), "type", TOKEN_TYPES)
    if given("whitelist"):
        out["whitelist"] = _choice(data.get("whitelist"), "whitelist", WHITELIST)
    if given("valid"):
        if not isinstance(data.get("valid"), bool):
            raise OcpiError(INVALID_PARAMETERS, "valid: true or false")
        out["valid"] = data["valid"]
    if given("last_updated"):
        out["last_updated"] = parse_datetime(data.get("last_updated"), "last_updated")
    for key, length in (("visual_number", 64), ("group_id", 36), ("language", 2)):
        if key in data:
            out[key] = text(data.get(key), key, length, optional=True)
    return out


def parse_token(data: Any) -> Token:
    """A whole Token object (PUT, or a page pulled from the eMSP)."""
    if not isinstance(data, Mapping):
        raise OcpiError(INVALID_PARAMETERS, "token: expected an object")
    return Token(**_fields(data, partial=False))


def patch_token(token: Token, data: Any) -> Token:
    """A PATCH: the fields given replace the token's; `last_updated` is required (OCPI)."""
    if not isinstance(data, Mapping):
        raise OcpiError(INVALID_PARAMETERS, "token: expected an object")
    if "last_updated" not in data:
        raise OcpiError(INVALID_PARAMETERS, "last_updated: required in a PATCH")
    fields = _fields(data, partial=True)
    for key in ("country_code", "party_id", "uid"):
        if key in fields and fields[key] != getattr(token, key):
            raise OcpiError(INVALID_PARAMETERS, f"{key}: cannot be changed")
    return replace(token, **fields)


@dataclass(frozen=True, slots=True)
class Authorization:
    """The eMSP's real-time answer (AuthorizationInfo)."""

    allowed: str
    token: Token
    authorization_reference: str | None = None

    @property
    def id_tag_status(self) -> str:
        return {"ALLOWED": "Accepted", "EXPIRED": "Expired"}.get(self.allowed, "Blocked")


def parse_authorization(data: Any) -> Authorization:
    if not isinstance(data, Mapping):
        raise OcpiError(INVALID_PARAMETERS, "authorization info: expected an object")
    allowed = _choice(data.get("allowed"), "allowed", ALLOWED)
    reference = text(data.get("authorization_reference"), "authorization_reference", 36, optional=True)
    return Authorization(allowed, parse_token(data.get("token")), reference)
