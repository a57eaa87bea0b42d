"""Payload adapters: (topic parts, payload bytes) -> Sample or liveness, one small function each.

An adapter is registered by name; the ingest picks it per inverter from the
configuration. Adapters are pure and raise PayloadError (with a reason that
is counted) on anything they cannot use.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

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


# -- third-party layouts: one inverter's values spread over several topics -------------------------------


@dataclass(frozen=True, slots=True)
class Partial:
    """What one third-party message says: any of power, lifetime energy, reachability."""

    power_w: float | None = None
    energy_wh: float | None = None
    online: bool | None = None


def _number(payload: bytes) -> float:
    try:
        value = float(_text(payload).strip())
    except ValueError as exc:
        raise PayloadError("not_a_number") from exc
    if not math.isfinite(value):
        raise PayloadError("not_a_number")
    return value


def _json_object(payload: bytes) -> dict[str, object]:
    try:
        data = json.loads(_text(payload))
    except json.JSONDecodeError as exc:
        raise PayloadError("not_json", str(exc)) from exc
    if not isinstance(data, dict):
        raise PayloadError("not_object")
    return data


def _field(data: dict[str, object], *path: str) -> float | None:
    node: object = data
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    if node is None:
        return None
    if isinstance(node, bool) or not isinstance(node, int | float) or not math.isfinite(node):
        raise PayloadError(f"invalid_{'.'.join(path)}")
    return float(node)


class Layout(Protocol):
    def topics(self, base: str) -> dict[str, str]:
        """The exact topics of an inverter published under `base`, each with the part it carries."""
        ...

    def parse(self, part: str, payload: bytes) -> Partial: ...


class OpenDtu:
    """OpenDTU: `<base>/0/power` W, `<base>/0/yieldtotal` kWh, `<base>/status/reachable` 0/1 (plain numbers)."""

    def topics(self, base: str) -> dict[str, str]:
        return {f"{base}/0/power": "power", f"{base}/0/yieldtotal": "energy", f"{base}/status/reachable": "reachable"}

    def parse(self, part: str, payload: bytes) -> Partial:
        value = _number(payload)
        if part == "power":
            return Partial(power_w=value)
        if part == "energy":
            return Partial(energy_wh=value * 1000.0)
        return Partial(online=value >= 1)


class AhoyDtu:
    """AhoyDTU: `<base>/ch0/P_AC` W, `<base>/ch0/YieldTotal` kWh, `<base>/available` 0-4, or JSON on `<base>/ch0`."""

    def topics(self, base: str) -> dict[str, str]:
        return {
            f"{base}/ch0/P_AC": "power",
            f"{base}/ch0/YieldTotal": "energy",
            f"{base}/available": "available",
            f"{base}/ch0": "json",
        }

    def parse(self, part: str, payload: bytes) -> Partial:
        if part == "json":
            data = _json_object(payload)
            total = _field(data, "YieldTotal")
            return Partial(power_w=_field(data, "P_AC"), energy_wh=None if total is None else total * 1000.0)
        value = _number(payload)
        if part == "power":
            return Partial(power_w=value)
        if part == "energy":
            return Partial(energy_wh=value * 1000.0)
        return Partial(online=value >= 1)


class Tasmota:
    """Tasmota: `tele/<base>/SENSOR` {"ENERGY": {"Power": W, "Total": kWh}}, `tele/<base>/LWT` Online/Offline."""

    def topics(self, base: str) -> dict[str, str]:
        return {f"tele/{base}/SENSOR": "sensor", f"tele/{base}/LWT": "lwt"}

    def parse(self, part: str, payload: bytes) -> Partial:
        if part == "lwt":
            state = _text(payload).strip().lower()
            if state not in ("online", "offline"):
                raise PayloadError("invalid_state")
            return Partial(online=state == "online")
        data = _json_object(payload)
        total = _field(data, "ENERGY", "Total")
        return Partial(power_w=_field(data, "ENERGY", "Power"), energy_wh=None if total is None else total * 1000.0)


class Victron:
    """Victron Venus: `<base>/Ac/Power` and `<base>/Ac/Energy/Forward` (kWh) as {"value": x};
    {"value": null} is an invalid reading (skipped), an empty payload means the device is gone."""

    def topics(self, base: str) -> dict[str, str]:
        return {f"{base}/Ac/Power": "power", f"{base}/Ac/Energy/Forward": "energy"}

    def parse(self, part: str, payload: bytes) -> Partial:
        if not payload.strip():
            return Partial(online=False)
        value = _field(_json_object(payload), "value")
        if value is None:
            return Partial()
        return Partial(power_w=value) if part == "power" else Partial(energy_wh=value * 1000.0)


class SunSpec:
    """SunSpec-named JSON on `<base>`: W and WH scaled by 10^W_SF / 10^WH_SF; St 7 (fault) or 1 (off) = offline."""

    def topics(self, base: str) -> dict[str, str]:
        return {base: "model"}

    def parse(self, part: str, payload: bytes) -> Partial:
        data = _json_object(payload)
        watts, watt_hours = _field(data, "W"), _field(data, "WH")
        power_sf, energy_sf = _field(data, "W_SF") or 0.0, _field(data, "WH_SF") or 0.0
        state = _field(data, "St")
        return Partial(
            power_w=None if watts is None else watts * 10**power_sf,
            energy_wh=None if watt_hours is None else watt_hours * 10**energy_sf,
            online=None if state is None else state not in (1.0, 7.0),
        )


LAYOUTS: dict[str, Layout] = {
    "opendtu": OpenDtu(),
    "ahoy": AhoyDtu(),
    "tasmota": Tasmota(),
    "victron": Victron(),
    "sunspec": SunSpec(),
}
