"""A charge point's identity as OCPP defines it: checked before anything is done with it.

OCPP 1.6 (OCPP-J section 3.1) and 2.0.1 (part 4, section 3.1.1 and part 2's identifierString) make the
identity at most 48 characters of the identifierString set: letters, digits and `* - _ = + | @ .`.
The colon is not in the set: the identity is also the HTTP Basic user name (security profiles 1-2).
"""

from __future__ import annotations

import re

MAX_IDENTITY_LENGTH = 48
IDENTITY_CHARACTERS = "A-Za-z0-9*\\-_=+|@."
IDENTITY_PATTERN = f"^[{IDENTITY_CHARACTERS}]{{1,{MAX_IDENTITY_LENGTH}}}$"
_IDENTITY = re.compile(IDENTITY_PATTERN)


def valid_identity(value: str) -> bool:
    """True when `value` is an OCPP charge point identity."""
    return _IDENTITY.fullmatch(value) is not None and value.isascii()


def why_invalid(value: str) -> str:
    """What is wrong with an identity, in words that never repeat it (it came from outside)."""
    if not value:
        return "the charge point identity is empty"
    if len(value) > MAX_IDENTITY_LENGTH:
        return f"the charge point identity has {len(value)} characters; OCPP allows at most {MAX_IDENTITY_LENGTH}"
    return "the charge point identity may hold only letters, digits and * - _ = + | @ . (OCPP identifierString)"


__all__ = ["IDENTITY_PATTERN", "MAX_IDENTITY_LENGTH", "valid_identity", "why_invalid"]
