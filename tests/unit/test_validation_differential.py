"""The compiled validator refuses exactly the frames the `ocpp` library's validators refuse.

A differential test: payloads are drawn from each schema of every OCPP version
the library ships (requests and responses), mostly valid, with faults planted
at random nodes (a missing required field, a wrong type, an unknown property,
an over-long string, a value outside an enum or a bound, a wrong item count, a
float where an integer belongs). Each payload goes through the library's own
`jsonschema` validator and through `chargepoints.validation`; the verdicts must
agree, except for the two differences the module names (integers held to 32
bits, date-times held to RFC 3339), which only ever make CoopGrid refuse more.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import ocpp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp.exceptions import OCPPError, ProtocolError
from ocpp.messages import Call, CallResult, _validate_payload

from chargepoints.validation import INT32_MAX, INT32_MIN, validator

_LIBRARY = Path(ocpp.__file__).parent
_FOLDERS = {"1.6": "v16", "2.0.1": "v201", "2.1": "v21"}


def _schemas() -> list[tuple[str, str, bool]]:
    found = []
    for version, folder in _FOLDERS.items():
        for path in sorted((_LIBRARY / folder / "schemas").glob("*.json")):
            name = path.stem
            if version != "1.6" and not name.endswith(("Request", "Response")):
                continue  # a file the library names otherwise, which neither validator can find
            response = name.endswith("Response")
            action = name.removesuffix("Response") if response else name.removesuffix("Request")
            found.append((version, action, response))
    return found


SCHEMAS = _schemas()


def _load(version: str, action: str, response: bool) -> dict[str, Any]:
    suffix = "Response" if response else ("" if version == "1.6" else "Request")
    path = _LIBRARY / _FOLDERS[version] / "schemas" / f"{action}{suffix}.json"
    return dict(json.loads(path.read_text(encoding="utf-8-sig")))


class _Draw:
    """Draws a payload for a schema, planting faults; `deliberate` counts the ones only CoopGrid refuses."""

    def __init__(
        self, draw: Callable[..., Any], root: dict[str, Any], fault_rate: float, single: int | None = None
    ) -> None:
        self.draw, self.root, self.fault_rate = draw, root, fault_rate
        self.single, self.asked = single, 0  # plant one fault only, at the `single`-th chance
        self.deliberate = 0

    def fault(self) -> bool:
        if self.single is not None:
            self.asked += 1
            return self.asked == self.single
        return self.fault_rate > 0 and self.draw(_PERCENT) < self.fault_rate * 100

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.root
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            node = target
        return node

    def value(self, node: dict[str, Any], depth: int = 0) -> Any:
        node = self.resolve(node)
        if self.fault() and self.draw(_PERCENT) < 25:  # any value at all (else the kinds plant their own)
            anything = self.draw(_ANY_JSON)
            if isinstance(anything, str) and node.get("format") == "date-time":
                self.deliberate += 1  # any text where a date-time belongs: only CoopGrid looks at it
            return anything
        if "enum" in node:
            if self.fault():
                return self.draw(st.text(string.ascii_letters, min_size=1, max_size=12))
            return self.draw(st.sampled_from(node["enum"]))
        kind = node.get("type")
        if kind == "object" or "properties" in node:
            return self.object(node, depth)
        if kind == "array":
            return self.array(node, depth)
        if kind == "string":
            return self.string(node)
        if kind == "integer":
            return self.integer(node)
        if kind == "number":
            return self.number(node)
        if kind == "boolean":
            return self.draw(st.booleans())
        return self.draw(_ANY_JSON)

    def object(self, node: dict[str, Any], depth: int) -> dict[str, Any]:
        properties: dict[str, Any] = node.get("properties", {})
        required = set(node.get("required", ()))
        out: dict[str, Any] = {}
        for name, sub in properties.items():
            wanted = name in required or (depth < 3 and self.draw(st.booleans()))
            if name in required and self.fault():
                wanted = False  # a required field missing
            if wanted:
                out[name] = self.value(sub, depth + 1)
        if self.fault():
            out[self.draw(st.text(string.ascii_letters, min_size=1, max_size=8))] = self.draw(_ANY_JSON)
        return out

    def array(self, node: dict[str, Any], depth: int) -> list[Any]:
        least = node.get("minItems", 0)
        most = node.get("maxItems", least + 2)
        if self.fault():
            size = self.draw(st.sampled_from([max(least - 1, 0), most + 1]))
        else:
            size = self.draw(st.integers(least, min(most, least + 2)))
        return [self.value(node.get("items", {}), depth + 1) for _ in range(size)]

    def string(self, node: dict[str, Any]) -> str:
        if node.get("format") == "date-time":
            if self.fault():
                self.deliberate += 1
                return self.draw(st.sampled_from(["yesterday", "2026-12-01", "2026-12-01 10:00:00", ""]))
            return self.draw(st.sampled_from(["2026-12-01T10:00:00Z", "2026-12-01T10:00:00.123+01:00"]))
        most = node.get("maxLength", 30)
        if self.fault():
            return "x" * (most + 1)
        return self.draw(st.text(string.printable, max_size=min(most, 30)))

    def integer(self, node: dict[str, Any]) -> Any:
        least, most = node.get("minimum", -1000), node.get("maximum", 100_000)
        if self.fault():
            choice = self.draw(st.sampled_from(["below", "above", "float", "whole", "huge", "bool"]))
            if choice == "huge":
                huge = self.draw(st.sampled_from([INT32_MAX + 1, INT32_MIN - 1, 10**30]))
                if ("minimum" not in node or huge >= least) and ("maximum" not in node or huge <= most):
                    self.deliberate += 1
                return huge
            wrong = {"below": least - 1, "above": most + 1, "float": least + 0.5, "whole": float(least), "bool": True}
            return wrong[choice]
        return self.draw(st.integers(least, min(most, least + 100_000)))

    def number(self, node: dict[str, Any]) -> Any:
        least = node.get("minimum", -1000)
        step = node.get("multipleOf")
        if self.fault():
            return self.draw(st.sampled_from([least - 1, "12.5", None, 4.11]))
        if step is not None:
            return float(Decimal(self.draw(st.integers(0, 5000))) * Decimal(str(step)))
        return self.draw(st.one_of(st.integers(least, least + 10_000), st.floats(least, least + 10_000.0)))


_PERCENT = st.sampled_from(range(100))  # uniform, where integers and floats lean to their bounds
_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=2) | st.dictionaries(st.text(max_size=3), children, max_size=2),
    max_leaves=4,
)


@st.composite
def planted(draw: st.DrawFn) -> tuple[str, str, bool, Any, int]:
    version, action, response = draw(st.sampled_from(SCHEMAS))
    root = _load(version, action, response)
    if draw(st.booleans()):  # one fault somewhere: the verdict then hangs on that one rule
        drawing = _Draw(draw, root, fault_rate=0.0, single=draw(st.integers(1, 40)))
    else:
        drawing = _Draw(draw, root, fault_rate=draw(st.sampled_from([0.0, 0.02, 0.1])))
    payload = drawing.object(root, 0)
    return version, action, response, payload, drawing.deliberate


def _library_refuses(version: str, action: str, response: bool, payload: Any) -> bool:
    message: Call | CallResult = CallResult("1", payload, action) if response else Call("1", action, payload)
    try:
        _validate_payload(message, version)
    except (OCPPError, ProtocolError):
        return True
    return False


def _coopgrid_refuses(version: str, action: str, response: bool, payload: Any) -> bool:
    try:
        validator(version, action, response)(payload)
    except OCPPError:
        return True
    return False


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(planted())
def test_the_same_frames_are_refused(case: tuple[str, str, bool, Any, int]) -> None:
    version, action, response, payload, deliberate = case
    ours = _coopgrid_refuses(version, action, response, json.loads(json.dumps(payload)))
    theirs = _library_refuses(version, action, response, json.loads(json.dumps(payload)))
    if theirs:
        assert ours, f"{version} {action}{' response' if response else ''}: the library refuses {payload}"
    elif deliberate == 0:
        assert not ours, f"{version} {action}{' response' if response else ''}: only CoopGrid refuses {payload}"


@pytest.mark.parametrize(("version", "action", "response"), SCHEMAS[::7])
def test_a_minimal_valid_payload_passes_both(version: str, action: str, response: bool) -> None:
    """Every schema compiles; its required fields alone, well formed, pass both validators."""

    class _NoFaults(_Draw):
        def fault(self) -> bool:
            return False

    @given(st.data())
    @settings(max_examples=3, deadline=None)
    def check(data: st.DataObject) -> None:
        root = _load(version, action, response)
        payload = _NoFaults(data.draw, root, 0.0).object(root, 5)
        assert not _library_refuses(version, action, response, payload), payload
        assert not _coopgrid_refuses(version, action, response, payload), payload

    check()
