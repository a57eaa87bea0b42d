"""OCPP 2.0.1 requests split by what the station says it takes, and their answers merged (pure; no I/O).

A station names how many items (`ItemsPerMessage[<Action>]`) and how many bytes (`BytesPerMessage[<Action>]`)
one request of a kind may hold: DeviceDataCtrlr for GetVariables, SetVariables and GetReport (B05, B06.FR.05,
B08), MonitoringCtrlr for SetVariableMonitoring and ClearVariableMonitoring (N04, N06.FR.04;
DeviceDataCtrlr is taken as well when a station reports them there). A request with more is sent as several,
each within both limits (a single item larger than the byte limit goes alone: the station judges it), and the
answers are put back together as one, in the order of the items asked.

Bytes are counted as the station receives them: the whole Call frame, `[2,"<36-character id>","Action",{...}]`,
compact JSON in UTF-8, as chargepoints.session writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ITEMS, BYTES = "ItemsPerMessage", "BytesPerMessage"
_ID = "x" * 36  # a message id is a UUID: 36 characters


@dataclass(frozen=True, slots=True)
class Limited:
    items: str  # the request's list of items
    results: str | None  # the answer's list of results, in the order of the items (None: one status)
    controllers: tuple[str, ...]  # the components whose ItemsPerMessage/BytesPerMessage[<Action>] apply


LIMITED: dict[str, Limited] = {
    "GetVariables": Limited("getVariableData", "getVariableResult", ("DeviceDataCtrlr",)),
    "SetVariables": Limited("setVariableData", "setVariableResult", ("DeviceDataCtrlr",)),
    "GetReport": Limited("componentVariable", None, ("DeviceDataCtrlr",)),
    "SetVariableMonitoring": Limited(
        "setMonitoringData", "setMonitoringResult", ("MonitoringCtrlr", "DeviceDataCtrlr")
    ),
    "ClearVariableMonitoring": Limited("id", "clearMonitoringResult", ("MonitoringCtrlr", "DeviceDataCtrlr")),
}
MAX_LIMIT = 2**31 - 1


def limit_of(component: str, variable: str, instance: str | None, value: object) -> tuple[str, str, int] | None:
    """(ITEMS or BYTES, action, limit) when a reported variable is one of the limits above, else None.

    `value` is the attribute value as reported (a string of decimal digits; anything else is no limit).
    """
    if variable not in (ITEMS, BYTES) or instance not in LIMITED:
        return None
    if component not in LIMITED[instance].controllers:
        return None
    text = value.strip() if isinstance(value, str) else None
    if not text or not text.isascii() or not text.isdecimal():
        return None
    limit = int(text)
    if not 0 < limit <= MAX_LIMIT:
        return None
    return variable, instance, limit


def stored_limit(component: str, variable: str, attribute: str, value: object) -> tuple[str, str, int] | None:
    """limit_of() for a stored device-model variable, named with its instance: "ItemsPerMessage[GetVariables]"."""
    name, bracket, rest = variable.partition("[")
    if attribute != "Actual" or not bracket or not rest.endswith("]"):
        return None
    return limit_of(component, name, rest[:-1], value)


def frame_bytes(action: str, payload: dict[str, Any]) -> int:
    """The size of the Call frame carrying `payload`, in bytes on the wire."""
    text = json.dumps([2, _ID, action, payload], separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8"))


def split(action: str, payload: dict[str, Any], max_items: int | None, max_bytes: int | None) -> list[dict[str, Any]]:
    """`payload` as requests of at most `max_items` items and `max_bytes` bytes each (None: no such limit)."""
    spec = LIMITED.get(action)
    entries = payload.get(spec.items) if spec is not None else None
    if spec is None or not isinstance(entries, list) or not entries or (max_items is None and max_bytes is None):
        return [payload]
    empty = frame_bytes(action, {**payload, spec.items: []})  # the frame around an empty list: "[]"
    sizes = [len(json.dumps(e, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) for e in entries]
    chunks: list[list[Any]] = []
    current: list[Any] = []
    size = empty
    for entry, entry_size in zip(entries, sizes, strict=True):
        grown = size + entry_size + (1 if current else 0)  # a comma between items
        too_many = max_items is not None and len(current) + 1 > max_items
        too_big = max_bytes is not None and grown > max_bytes
        if current and (too_many or too_big):
            chunks.append(current)
            current, grown = [], empty + entry_size
        current.append(entry)
        size = grown
    chunks.append(current)
    return [{**payload, spec.items: chunk} for chunk in chunks]


def merge(action: str, answers: list[dict[str, Any]]) -> dict[str, Any]:
    """The answers to the parts of a split request as one answer to the whole."""
    if len(answers) == 1:
        return answers[0]
    spec = LIMITED[action]
    if spec.results is not None:
        return {spec.results: [result for answer in answers for result in answer.get(spec.results, [])]}
    statuses = [str(answer.get("status")) for answer in answers]
    # GetReport: Accepted when any part is (its NotifyReports come); else what the first part said
    return {"status": "Accepted" if "Accepted" in statuses else statuses[0]}
