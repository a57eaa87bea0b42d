"""OCPP JSON-schema validation, compiled (pure; no I/O beyond reading the schemas once).

The `ocpp` library's schemas, compiled once per action with jsonschema-rs (a
validator written in Rust) as draft 4, as the library reads them: the same
frames are accepted and rejected as with the library's jsonschema
validators, about a hundred times faster (a MeterValues request in 1.0 µs of
CPU against the library's 107; fastjsonschema's generated Python, used
before, took 5.9). Failures become the OCPP-J CallError the specification
names for them, spelled as the protocol version spells it.

Three deliberate differences: `multipleOf` (only on 1.6 charging-rate limits) is
checked on the decimal text of the number, so 21.4 passes as it should,
where binary floating point would reject it; every integer is held to
the 32 bits both versions define the type with (OCPP 1.6 and 2.0.1: "integer:
32 bit, 31 bit resolution, 1 sign bit"), so a connectorId of 10**30 is a
PropertyConstraintViolation, not a row in the database; and a `date-time`
is held to RFC 3339, as both versions define it, so a timestamp of
"yesterday" is refused at the edge instead of failing deep inside. Each of
these only ever refuses more than the library; tests/unit/
test_validation_differential.py checks, over payloads drawn from every schema
with planted faults, that the verdicts agree everywhere else.

`device_ids` names the connector (1.6) and EVSE (2.0.1) ids of the
charger-initiated messages, for the session to hold them to what the charger has.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import ocpp
from ocpp.exceptions import (
    FormationViolationError,
    FormatViolationError,
    OccurenceConstraintViolationError,
    OccurrenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    TypeConstraintViolationError,
)
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplemented,
)

_SCHEMAS = Path(ocpp.__file__).parent
Validator = Callable[[Any], None]
# The library checks no format; "anyURI" is any string there, and here (date-time is checked: see above).
_FORMATS: dict[str, Callable[[str], bool]] = {"uri": lambda _: True}


def _cause(error: Any) -> str:
    """The validator's message, with where in the payload it is (as fastjsonschema's `data.x` used to say)."""
    where = ".".join(str(part) for part in error.instance_path)
    return f"data{'.' + where if where else ''}: {error.message}"[:300]


INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# The connector (1.6) or EVSE (2.0.1) ids each charger-initiated message carries: (path, least valid id).
# 0 is the charger as a whole (its main meter or controller) where the specification allows it.
_DEVICE_IDS: dict[tuple[str, str], tuple[tuple[tuple[str, ...], int], ...]] = {
    ("1.6", "StatusNotification"): ((("connectorId",), 0),),
    ("1.6", "StartTransaction"): ((("connectorId",), 1),),
    ("1.6", "MeterValues"): ((("connectorId",), 0),),
    ("2.0.1", "StatusNotification"): ((("evseId",), 0),),
    ("2.0.1", "TransactionEvent"): ((("evse", "id"), 1),),
    ("2.0.1", "MeterValues"): ((("evseId",), 0),),
    ("2.0.1", "NotifyEVChargingNeeds"): ((("evseId",), 1),),
    ("2.0.1", "NotifyEVChargingSchedule"): ((("evseId",), 1),),
    ("2.0.1", "NotifyChargingLimit"): ((("evseId",), 1),),
    ("2.0.1", "ClearedChargingLimit"): ((("evseId",), 0),),
    ("2.0.1", "ReportChargingProfiles"): ((("evseId",), 0),),
}
# 2.1 carries them where 2.0.1 does
_DEVICE_IDS.update({("2.1", action): ids for (version, action), ids in list(_DEVICE_IDS.items()) if version == "2.0.1"})


def device_ids(version: str, action: str, payload: Any) -> list[tuple[str, int, int]]:
    """(field, id, least valid id) for every connector or EVSE id in a validated charger message."""
    found = []
    for path, least in _DEVICE_IDS.get((version, action), ()):
        node = payload
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, int) and not isinstance(node, bool):
            found.append((".".join(path), node, least))
    return found


def _bound_integers(node: Any) -> Any:
    """Every `"type": "integer"` of a schema held to 32 bits (tighter bounds of the schema kept)."""
    if isinstance(node, dict):
        out = {k: _bound_integers(v) for k, v in node.items()}
        if out.get("type") == "integer":
            out["minimum"] = max(out.get("minimum", INT32_MIN), INT32_MIN)
            out["maximum"] = min(out.get("maximum", INT32_MAX), INT32_MAX)
        return out
    if isinstance(node, list):
        return [_bound_integers(v) for v in node]
    return node


def _strip_multiple_of(node: Any, found: list[tuple[str, Decimal]], path: str = "") -> Any:
    if isinstance(node, dict):
        if "multipleOf" in node:
            found.append((path, Decimal(str(node["multipleOf"]))))
        return {k: _strip_multiple_of(v, found, f"{path}/{k}") for k, v in node.items() if k != "multipleOf"}
    if isinstance(node, list):
        return [_strip_multiple_of(v, found, path) for v in node]
    return node


def _schema_path(version: str, action: str, response: bool) -> Path:
    if version == "1.6":
        return _SCHEMAS / "v16" / "schemas" / f"{action}{'Response' if response else ''}.json"
    if version in ("2.0.1", "2.1"):
        folder = "v201" if version == "2.0.1" else "v21"
        return _SCHEMAS / folder / "schemas" / f"{action}{'Response' if response else 'Request'}.json"
    raise ValueError(f"unknown OCPP version {version}")


def _errors(version: str) -> dict[str, type[OCPPError]]:
    v16 = version == "1.6"
    occurrence = OccurrenceConstraintViolationError if version == "2.1" else OccurenceConstraintViolationError
    return {
        "type": TypeConstraintViolationError,
        "maxLength": TypeConstraintViolationError,
        "minLength": TypeConstraintViolationError,
        "format": TypeConstraintViolationError,
        # Both 1.6 and 2.0.1 spell it "Occurence" (2.1 fixes the typo).
        "required": occurrence,
        "minItems": occurrence,
        "maxItems": occurrence,
        "enum": PropertyConstraintViolationError,
        "minimum": PropertyConstraintViolationError,
        "maximum": PropertyConstraintViolationError,
        "multipleOf": PropertyConstraintViolationError,
        "additionalProperties": FormationViolationError if v16 else FormatViolationError,
    }


@cache
def validator(version: str, action: str, response: bool = False) -> Validator:
    """A function that raises the right OCPPError when `payload` breaks the schema."""
    path = _schema_path(version, action, response)
    try:
        schema = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError:
        raise OcppNotImplemented(details={"cause": f"no schema for {action} in OCPP {version}"}) from None
    multiples: list[tuple[str, Decimal]] = []
    schema = _bound_integers(_strip_multiple_of(schema, multiples))
    schema.pop("$id", None)
    schema.pop("$schema", None)  # the library validates every version as draft 4 (5.0 is no integer there)
    compiled = jsonschema_rs.Draft4Validator(schema, validate_formats=True, formats=_FORMATS)
    errors = _errors(version)
    default_error = FormationViolationError if version == "1.6" else FormatViolationError

    def validate(payload: Any) -> None:
        if not compiled.is_valid(payload):
            first = next(iter(compiled.iter_errors(payload)))
            kind = type(first.kind).__name__
            raise errors.get(kind[0].lower() + kind[1:], default_error)(details={"cause": _cause(first)})
        if multiples:
            _check_multiples(payload, multiples)

    return validate


def _check_multiples(payload: Any, multiples: list[tuple[str, Decimal]]) -> None:
    # Only 1.6 chargingSchedulePeriod.limit carries multipleOf (0.1); walk for any number field named like
    # the schema path's last property and check its decimal text.
    names = {path.rsplit("/", 1)[-1] for path, _ in multiples}
    step = multiples[0][1]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                numeric = isinstance(value, int | float) and not isinstance(value, bool)
                if key in names and numeric and Decimal(repr(value)) % step != 0:
                    raise PropertyConstraintViolationError(
                        details={"cause": f"{key}={value} is not a multiple of {step}"}
                    )
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(payload)


@cache
def protocol_actions(version: str) -> frozenset[str]:
    """Every action the version has, as the library's schema files name them (the same set as its Action
    enumerations, which are not imported: their packages pull in the library's jsonschema validators too)."""
    folder = {"1.6": "v16", "2.0.1": "v201", "2.1": "v21"}[version]
    names = set()
    for path in (_SCHEMAS / folder / "schemas").glob("*.json"):
        stem = path.stem
        if stem.endswith("Response"):
            names.add(stem.removesuffix("Response"))
        elif stem.endswith("Request") or version == "1.6":
            names.add(stem.removesuffix("Request"))
    return frozenset(names)


@cache
def schema(version: str, action: str, response: bool = False) -> dict[str, Any]:
    """The raw schema (for lenient repair)."""
    return dict(json.loads(_schema_path(version, action, response).read_text(encoding="utf-8-sig")))
