"""Payload adapters: (topic parts, payload bytes) -> Sample or liveness, one small function each.

An adapter is registered by name; the ingest picks it per inverter from the
configuration. Adapters are pure and raise PayloadError (with a reason that
is counted) on anything they cannot use.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError

from solar.telemetry import NativeTelemetry, Sample


class PayloadError(Exception):
    """The payload cannot be used; `reason` is a short, countable label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


Adapter = Callable[[str, str, bytes, datetime], Sample]
ADAPTERS: dict[str, Adapter] = {}


def register(name: str) -> Callable[[Adapter], Adapter]:
    def add(adapter: Adapter) -> Adapter:
        ADAPTERS[name] = adapter
        return adapter

    return add


def _text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("not_utf8") from exc


@register("native")
def native(park_id: str, inverter_id: str, payload: bytes, received: datetime) -> Sample:
    """The CoopGrid JSON payload of DESIGN.md."""
    try:
        data = json.loads(_text(payload))
    except json.JSONDecodeError as exc:
        raise PayloadError("not_json", str(exc)) from exc
    if not isinstance(data, dict):
        raise PayloadError("not_object")
    try:
        telemetry = NativeTelemetry.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "payload"
        raise PayloadError(f"invalid_{field}", first["msg"]) from exc
    return Sample(
        park_id=park_id,
        inverter_id=inverter_id,
        ts=telemetry.ts,
        power_w=telemetry.ac_power_w,
        energy_wh=telemetry.energy_wh,
        status=telemetry.status,
    )
