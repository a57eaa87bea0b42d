"""Credentials: charger passwords (OCPP security profiles 1-2) and API tokens, stored hashed.

Charger passwords are hashed with scrypt and a per-secret salt; API tokens
are 256-bit random values, so their SHA-256 is enough to store them. Verifying a charger's password on
every reconnect would cost ~20 ms of CPU each (a reconnect storm of thousands
of chargers), so successful verifications are remembered by a keyed digest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
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
    return hashlib.sha256(token.encode()).hexdigest()


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
