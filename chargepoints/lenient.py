"""Repair the known quirks of real chargers before schema validation (pure).

Used only for chargers marked lenient. Guided by the OCPP JSON schema itself:
strings longer than maxLength are truncated, enum values in the wrong case are
corrected, and array items carrying an enum value we cannot map (an unknown
measurand, say) are dropped. Types are never coerced: a number sent as text is
still a TypeConstraintViolation.
"""

from __future__ import annotations

from typing import Any


class _Drop(Exception):
    """The value holds an enum we cannot map; its enclosing array item goes."""


def repair(schema: dict[str, Any], payload: Any) -> tuple[Any, list[str]]:
    fixes: list[str] = []
    try:
        return _repair(schema, payload, "", fixes), fixes
    except _Drop:
        return payload, fixes


def _repair(schema: dict[str, Any], value: Any, path: str, fixes: list[str]) -> Any:
    enum = schema.get("enum")
    if enum is not None and isinstance(value, str) and value not in enum:
        lowered = {str(option).lower(): option for option in enum}
        if value.lower() in lowered:
            fixes.append(f"{path}: enum case {value!r} -> {lowered[value.lower()]!r}")
            return lowered[value.lower()]
        raise _Drop(path)
    if isinstance(value, str):
        limit = schema.get("maxLength")
        if isinstance(limit, int) and len(value) > limit:
            fixes.append(f"{path}: truncated from {len(value)} to {limit} characters")
            return value[:limit]
        return value
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = properties.get(key)
            out[key] = _repair(sub, item, f"{path}.{key}", fixes) if isinstance(sub, dict) else item
        return out
    if isinstance(value, list):
        item_schema = schema.get("items")
        if not isinstance(item_schema, dict):
            return value
        items: list[Any] = []
        for index, item in enumerate(value):
            try:
                items.append(_repair(item_schema, item, f"{path}[{index}]", fixes))
            except _Drop as dropped:
                fixes.append(f"{dropped.args[0]}: dropped an item with an unknown enum value")
        return items
    return value
