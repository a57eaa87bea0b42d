"""Credentials: charger passwords (OCPP security profiles 1-2) and API tokens, stored hashed.

Charger passwords are hashed with scrypt and a per-secret salt; API tokens
are 256-bit random values, so their SHA-256 is enough to store them, and a
token is found by the digest of all of it (no prefix of a token finds it, and
the lookup's timing depends on the digest, not on how much of a token matched).
Verifying a charger's password on
every reconnect would cost ~20 ms of CPU each (a reconnect storm of thousands
of chargers), so successful verifications are remembered by a keyed digest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

Role = Literal["operator", "cooperative", "viewer"]
ROLES: tuple[Role, ...] = ("operator", "cooperative", "viewer")


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    cooperative_id: str | None = None
    name: str = ""


def new_token() -> str:
    return "cg_" + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    # surrogateescape: a header's undecodable bytes digest to something that matches nothing, not to an error
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Whether `given` is `expected`, in a time that depends on neither's content nor length.

    `hmac.compare_digest` on the strings themselves returns at once when the lengths differ; on their
    SHA-256 digests both sides are always 32 bytes. Use it for the bootstrap operator token.
    """
    return hmac.compare_digest(
        hashlib.sha256(given.encode("utf-8", "surrogateescape")).digest(),
        hashlib.sha256(expected.encode("utf-8", "surrogateescape")).digest(),
    )


# -- API token lifecycle ----------------------------------------------------------------

TokenState = Literal["active", "expired", "revoked"]
LAST_USED_EVERY = timedelta(minutes=1)  # a token's last-used time is written at most this often


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored API token as operators see it (never the token itself: only its digest is kept)."""

    id: int
    name: str
    role: Role
    cooperative_id: str | None
    created: datetime
    expires: datetime | None = None
    revoked: datetime | None = None
    last_used: datetime | None = None

    def state(self, now: datetime) -> TokenState:
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= now:
            return "expired"
        return "active"


class TokenRequestError(ValueError):
    """A token request that means nothing; `field` is one of name, role, cooperative_id, expires."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


_DURATION = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_NAME_MAX = 64


def parse_expiry(text: str, now: datetime) -> datetime:
    """When a token requested with `--expires text` expires: `45m`, `12h`, `30d`, `2w` from `now`, or an
    ISO-8601 time (`2027-01-31`, `2027-01-31T18:00:00+01:00`; UTC when it names no offset).

    Raises TokenRequestError(field="expires") for anything else and for a time not after `now`.
    """
    value = text.strip()
    duration = _DURATION.fullmatch(value.lower())
    try:
        if duration:
            expires = now + timedelta(**{_UNITS[duration[2]]: int(duration[1])})
        else:
            expires = datetime.fromisoformat(value)
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
        expires = expires.astimezone(UTC)
    except (ValueError, OverflowError):
        raise TokenRequestError(
            "expires", f"{text!r} is neither a duration (45m, 12h, 30d, 2w) nor an ISO-8601 time"
        ) from None
    if expires <= now:
        when = expires.isoformat().replace("+00:00", "Z")
        raise TokenRequestError("expires", f"{text!r} is not in the future ({when}); a token must expire later")
    return expires


def check_token_request(
    role: str,
    cooperative_id: str | None,
    expires: str | None,
    known_cooperatives: set[str],
    now: datetime,
    name: str | None = None,
) -> datetime | None:
    """Refuse a token that means nothing (the CLI and the REST API ask the same); its expiry time if any.

    A cooperative token names the cooperative it reads, and it must be one of the configuration's when the
    configuration has cooperatives; operator and viewer tokens name none (an operator sees every
    cooperative, a viewer sees charger status only).
    """
    if name is not None and not (0 < len(name) <= _NAME_MAX and name.isprintable()):
        raise TokenRequestError("name", f"a token's name has 1 to {_NAME_MAX} printable characters")
    if role not in ROLES:
        raise TokenRequestError("role", f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    if role == "cooperative":
        if not cooperative_id:
            raise TokenRequestError("cooperative_id", "a cooperative token needs the cooperative it may read")
        if len(cooperative_id) > _NAME_MAX or not cooperative_id.isprintable():
            raise TokenRequestError("cooperative_id", f"a cooperative id has 1 to {_NAME_MAX} printable characters")
        if known_cooperatives and cooperative_id not in known_cooperatives:
            known = ", ".join(sorted(known_cooperatives))
            raise TokenRequestError("cooperative_id", f"unknown cooperative {cooperative_id!r} (configured: {known})")
    elif cooperative_id is not None:
        if role == "operator":
            reach = "an operator token sees every cooperative"
        else:
            reach = "a viewer token reads charger status and no cooperative's data"
        raise TokenRequestError("cooperative_id", f"{reach}: it takes no cooperative")
    return parse_expiry(expires, now) if expires is not None else None


_N, _R, _P = 2**14, 8, 1
_verified: set[bytes] = set()
_PEPPER = secrets.token_bytes(32)  # process-local key for the verification cache


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    cache_key = hmac.digest(_PEPPER, stored.encode() + b"\0" + secret.encode(), "sha256")
    if cache_key in _verified:
        return True
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    ok = hmac.compare_digest(digest.hex(), digest_hex)
    if ok:
        _verified.add(cache_key)
    return ok


def parse_basic_auth(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header, or None."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
