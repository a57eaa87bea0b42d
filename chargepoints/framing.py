"""OCPP-J frames as text: parsing that refuses what no OCPP message holds, and writing (pure, no I/O).

A frame is parsed without non-finite numbers (`NaN`, `Infinity`, numbers that overflow to infinity),
held to `MAX_DEPTH` levels and to strings that are Unicode; a Call whose JSON does not parse still
yields its id when the start of the frame can be read, so that its CallError can carry it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec

# Deeper than any OCPP message goes (its schemas nest 13 levels at most), shallow enough that nothing
# walking a payload (validation, lenient repair, storage as JSON) runs out of stack.
MAX_DEPTH = 64
MAX_MESSAGE_ID = 36  # OCPP-J: a message id is a string of at most 36 characters (room for a UUID)
UNKNOWN_MESSAGE_ID = "-1"  # OCPP-J: the id of a CallError answering a message whose id cannot be read
# The id of a Call whose JSON does not parse, when its start can still be read: [2, "id", ... (a character
# beyond the BMP is two escapes: 2 x 36 units at most, then the decoded id is held to 36 characters).
_CALL_ID = re.compile(
    r'\s*\[\s*2\s*,\s*("(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4}){0,' + str(2 * MAX_MESSAGE_ID) + '}")'
)


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as inf
        raise ValueError(f"{text[:20]} is beyond a double")
    return value


# JSON as RFC 8259 has it: NaN, Infinity and -Infinity (which Python's json takes) are refused.
DECODER = json.JSONDecoder(parse_constant=_not_a_number, parse_float=_finite)
_FAST_DECODER = msgspec.json.Decoder()
_FAST_ENCODER = msgspec.json.Encoder()


def decode(raw: str) -> Any:
    """A frame's JSON: msgspec's decoder (C, strict RFC 8259, integers of any size kept), and for whatever it
    refuses Python's, with the rules above, so that a refusal says the same as it always did."""
    try:
        return _FAST_DECODER.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return DECODER.decode(raw)


def readable_call_id(raw: str) -> str:
    """The id at the start of a Call that does not parse as a whole, or "-1" when there is none to read."""
    found = _CALL_ID.match(raw)
    if found is None:
        return UNKNOWN_MESSAGE_ID
    unique_id = str(json.loads(found.group(1)))  # one string literal: nothing deep, nothing non-finite
    return unique_id if len(unique_id) <= MAX_MESSAGE_ID and is_unicode(unique_id) else UNKNOWN_MESSAGE_ID


def is_unicode(text: str) -> bool:
    """False for a string holding a lone surrogate ("\\ud800" in JSON): no Unicode text, and no UTF-8 either."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def lone_surrogate(frame: Any) -> bool:
    """True when a string (or a key) anywhere in the frame holds a lone surrogate (walked without recursion)."""
    stack = [frame]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if not is_unicode(node):
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def deeper_than(frame: Any, limit: int) -> bool:
    """True when lists and objects nest more than `limit` levels (walked without recursion)."""
    stack = [(frame, 1)] if isinstance(frame, list | dict) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, list | dict):
                stack.append((child, depth + 1))
    return False


def brief(value: Any) -> str:
    """A value from a charger fit for a description or a log line: short, and never a deep repr."""
    if isinstance(value, str | int | float | bool) or value is None:
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return type(value).__name__


def dumps(frame: list[Any]) -> str:
    """Compact JSON, UTF-8 text unescaped; a string that is no Unicode text (a lone surrogate) as \\uXXXX."""
    try:
        return _FAST_ENCODER.encode(frame).decode()
    except (UnicodeEncodeError, UnicodeDecodeError, TypeError, OverflowError, msgspec.EncodeError):
        return json.dumps(frame, separators=(",", ":"))
