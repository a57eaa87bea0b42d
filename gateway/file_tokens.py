"""Signed, time-limited tokens in the file URLs CoopGrid gives chargers (firmware downloads, log uploads).

Pure: no clock read, no I/O. A token is `<transfer id>.<expiry, epoch s>.<signature>`, the signature an
HMAC-SHA256 (the installation secret's) over the purpose, the charger, the transfer and the expiry,
base64url without padding. A token is good for exactly one purpose, one charger and one transfer until
its expiry; anything else (another charger's, another installation's, expired, altered, malformed) is
refused with `TokenRefused`, its reason for the log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

PURPOSES = ("firmware", "upload")
MAX_TOKEN = 120  # ids up to 2^31, a 10-12 digit expiry, 43 characters of signature, with room to spare
_SIGNATURE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class TokenRefused(Exception):
    """The token does not grant what is asked (the message says why; it never goes to the requester)."""


@dataclass(frozen=True, slots=True)
class Grant:
    purpose: str
    charge_point_id: str
    transfer_id: int
    expires_s: int


def _signature(secret: bytes, purpose: str, charge_point_id: str, transfer_id: int, expires_s: int) -> str:
    message = f"coopgrid-file\n{purpose}\n{charge_point_id}\n{transfer_id}\n{expires_s}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign(secret: bytes, purpose: str, charge_point_id: str, transfer_id: int, expires_s: int) -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"purpose: one of {PURPOSES}")
    if not 0 < transfer_id < 2**31 or expires_s < 0:
        raise ValueError("transfer_id: 1..2^31-1; expires_s: not negative")
    return f"{transfer_id}.{expires_s}.{_signature(secret, purpose, charge_point_id, transfer_id, expires_s)}"


def _number(text: str, what: str) -> int:
    if not text or len(text) > 12 or not text.isascii() or not text.isdecimal():
        raise TokenRefused(f"malformed token: {what}")
    return int(text)


def verify(secret: bytes, token: str, purpose: str, charge_point_id: str, now_s: float) -> Grant:
    """The grant of a token presented for `purpose` on `charge_point_id`'s URL at `now_s` (epoch s)."""
    if len(token) > MAX_TOKEN:
        raise TokenRefused("malformed token: too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRefused("malformed token: three parts expected")
    transfer_id = _number(parts[0], "transfer id")
    expires_s = _number(parts[1], "expiry")
    if not 0 < transfer_id < 2**31:
        raise TokenRefused("malformed token: transfer id")
    if not set(parts[2]) <= _SIGNATURE_CHARS:
        raise TokenRefused("malformed token: signature")
    expected = _signature(secret, purpose, charge_point_id, transfer_id, expires_s)
    if not hmac.compare_digest(expected, parts[2]):
        raise TokenRefused("signature does not match (another charger's, purpose's or installation's token)")
    if now_s >= expires_s:
        raise TokenRefused("expired")
    return Grant(purpose, charge_point_id, transfer_id, expires_s)
