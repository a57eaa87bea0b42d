"""The fast JSON codec of OCPP-J frames reads and writes exactly what the standard library's does."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chargepoints.framing import DECODER, decode, dumps

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
_TOKENS = [
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    '"a"',
    '"\\ud800"',
    "1",
    "-0",
    "1e400",
    "NaN",
    "Infinity",
    "2.5",
    " ",
    "1" * 25,
]


def _standard(raw: str) -> tuple[str, Any]:
    try:
        return "value", DECODER.decode(raw)
    except (ValueError, RecursionError) as error:
        return "refused", str(error)


def _fast(raw: str) -> tuple[str, Any]:
    try:
        return "value", decode(raw)
    except (ValueError, RecursionError) as error:
        return "refused", str(error)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=400)
@given(_JSON, st.booleans())
def test_valid_json_reads_the_same(value: Any, spaced: bool) -> None:
    raw = json.dumps(value, indent=1 if spaced else None, ensure_ascii=spaced)
    fast, standard = _fast(raw), _standard(raw)
    assert fast[0] == standard[0] == "value"
    assert _same(fast[1], standard[1])


@settings(max_examples=400)
@given(st.lists(st.sampled_from(_TOKENS), max_size=12).map("".join) | st.text(max_size=20))
def test_anything_else_is_refused_with_the_same_words(raw: str) -> None:
    assert _fast(raw) == _standard(raw) or _same(_fast(raw)[1], _standard(raw)[1])


@settings(max_examples=300)
@given(_JSON)
def test_what_is_written_reads_back(value: Any) -> None:
    text = dumps([3, "id", value])
    assert _same(DECODER.decode(text), [3, "id", value])  # a lone surrogate too: escaped, read back
    assert text.encode("utf-8")  # always sendable: never a lone surrogate in the text itself
