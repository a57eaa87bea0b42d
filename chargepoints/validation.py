"""OCPP JSON-schema validation, compiled (pure; no I/O beyond reading the schemas once).

The `ocpp` library's schemas, compiled with fastjsonschema: the same frames
are accepted and rejected as with the library's jsonschema validators, about
fifteen times faster. Failures become the OCPP-J CallError the specification
names for them, spelled as the protocol version spells it.

One deliberate difference: `multipleOf` (only on 1.6 charging-rate limits) is
checked on the decimal text of the number, so 21.4 passes as it should,
where binary floating point would reject it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import ocpp
from ocpp.exceptions import (
    FormationViolationError,
    FormatViolationError,
    OccurenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    TypeConstraintViolationError,
)
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplemented,
)

_SCHEMAS = Path(ocpp.__file__).parent
Validator = Callable[[Any], None]


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
    if version == "2.0.1":
        return _SCHEMAS / "v201" / "schemas" / f"{action}{'Response' if response else 'Request'}.json"
    raise ValueError(f"unknown OCPP version {version}")


def _errors(version: str) -> dict[str, type[OCPPError]]:
    v16 = version == "1.6"
    return {
        "type": TypeConstraintViolationError,
        "maxLength": TypeConstraintViolationError,
        "minLength": TypeConstraintViolationError,
        "format": TypeConstraintViolationError,
        # Both 1.6 and 2.0.1 spell it "Occurence" (2.1 fixes the typo).
        "required": OccurenceConstraintViolationError,
        "minItems": OccurenceConstraintViolationError,
        "maxItems": OccurenceConstraintViolationError,
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
    schema = _strip_multiple_of(schema, multiples)
    schema.pop("$id", None)
    compiled = fastjsonschema.compile(schema, use_default=False)  # validate, never fill in defaults
    errors = _errors(version)
    default_error = FormationViolationError if version == "1.6" else FormatViolationError

    def validate(payload: Any) -> None:
        try:
            compiled(payload)
        except fastjsonschema.JsonSchemaValueException as exc:
            error = errors.get(exc.rule or "", default_error)
            raise error(details={"cause": exc.message}) from None
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
def schema(version: str, action: str, response: bool = False) -> dict[str, Any]:
    """The raw schema (for lenient repair)."""
    return dict(json.loads(_schema_path(version, action, response).read_text(encoding="utf-8-sig")))
