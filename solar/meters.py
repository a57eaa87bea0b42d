"""Grid connection meters: per-phase current (and power, energy) of each site, validated, with liveness.

No I/O here: the gateway owns the MQTT connection and the Modbus clients. MQTT messages come in through
`handle(topic, payload)` and are parsed by a meter layout; Modbus polls arrive already decoded through
`accept(site_id, partial)`. Both go through the same checks. A meter silent for longer than its timeout
is `silent` (and says so with an event): the scheduler then falls back to the site's static limit.
Bad input never raises: it is counted by reason and site, and the last messages are kept aside.

Layouts (one class each, like `solar.adapters` for inverters; `topics(base)` names the exact topics
of one meter under its base topic, `parse(part, payload)` reads one message):

- `native`: `<base>` = JSON `{"ts"?, "current_a": [L1, L2, L3], "power_w"?, "energy_wh"?}`
  (default base: `{prefix}/grid/{site_id}/meter`);
- `shelly_pro3em`: Shelly Pro 3EM (Gen2, triphase profile) with "generic status update over MQTT":
  `<base>/status/em:0` `{"a_current", "b_current", "c_current", "total_act_power"}`,
  `<base>/status/emdata:0` `{"total_act"}` (Wh), `<base>/online` `true`/`false`;
- `tasmota_sml`: Tasmota's SML script: `tele/<base>/SENSOR` `{"<meter>": {"Curr_p1"..., "Power_curr", "Total_in"
  (kWh)}}`, `tele/<base>/LWT` `Online`/`Offline`;
- `victron`: Victron Venus grid meter: `N/<portal>/grid/<instance>` as base, `<base>/Ac/L1/Current` ... L3,
  `<base>/Ac/Power`, `<base>/Ac/Energy/Forward` (kWh), each `{"value": x}`; `{"value": null}` is an invalid
  reading (skipped), an empty payload means the device is gone.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from solar.adapters import PayloadError
from solar.events import GridMeterReading, GridMeterStateChanged, TelemetryRejected
from solar.telemetry import UtcTimestamp

log = logging.getLogger(__name__)

PHASES = 3
KEPT_ASIDE = 200
KEPT_BYTES = 4096
RECENT_IN_VIEW = 10  # rejected readings a site's view shows, newest first

Currents = tuple[float | None, float | None, float | None]
NO_CURRENTS: Currents = (None, None, None)


@dataclass(frozen=True, slots=True)
class MeterPartial:
    """What one meter message (or one Modbus poll) says: any of the phase currents, power, energy, reachability."""

    current_a: Currents = NO_CURRENTS
    power_w: float | None = None
    energy_wh: float | None = None  # lifetime import counter
    online: bool | None = None

    @property
    def empty(self) -> bool:
        return (
            all(c is None for c in self.current_a) and self.power_w is None and self.energy_wh is None
        ) and self.online is None


def _text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("not_utf8") from exc


def _json(payload: bytes) -> Any:
    try:
        return json.loads(_text(payload))
    except json.JSONDecodeError as exc:
        raise PayloadError("not_json", str(exc)) from exc


def _object(payload: bytes) -> dict[str, Any]:
    data = _json(payload)
    if not isinstance(data, dict):
        raise PayloadError("not_object")
    return data


def _value(data: Mapping[str, Any], key: str) -> float | None:
    """A finite number under `key` (None when absent or null); anything else is `invalid_<key>`."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PayloadError(f"invalid_{key}")
    return float(value)


def _kwh(value: float | None) -> float | None:
    return None if value is None else value * 1000.0


class MeterLayout(Protocol):
    def topics(self, base: str) -> dict[str, str]:
        """The exact topics of one meter published under `base`, each with the part it carries."""
        ...

    def parse(self, part: str, payload: bytes) -> MeterPartial: ...


class _NativeMeter(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ts: UtcTimestamp | None = None
    current_a: list[float] = Field(min_length=1, max_length=PHASES)
    power_w: float | None = Field(None, allow_inf_nan=False)
    energy_wh: float | None = Field(None, ge=0, allow_inf_nan=False)

    def currents(self) -> Currents:
        padded = [*self.current_a, None, None][:PHASES]
        for value in self.current_a:
            if not math.isfinite(value):
                raise PayloadError("invalid_current_a")
        return padded[0], padded[1], padded[2]


class NativeMeter:
    """CoopGrid's own grid-meter JSON on `<base>` (default `{prefix}/grid/{site_id}/meter`)."""

    def topics(self, base: str) -> dict[str, str]:
        return {base: "json"}

    def parse(self, part: str, payload: bytes) -> MeterPartial:
        data = _object(payload)
        try:
            meter = _NativeMeter.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = str(first["loc"][0]) if first["loc"] else "payload"
            raise PayloadError(f"invalid_{where}", first["msg"]) from exc
        return MeterPartial(meter.currents(), meter.power_w, meter.energy_wh)


class ShellyPro3EM:
    """Shelly Pro 3EM (triphase profile): `<base>/status/em:0`, `<base>/status/emdata:0`, `<base>/online`."""

    def topics(self, base: str) -> dict[str, str]:
        return {f"{base}/status/em:0": "em", f"{base}/status/emdata:0": "emdata", f"{base}/online": "online"}

    def parse(self, part: str, payload: bytes) -> MeterPartial:
        if part == "online":
            state = _text(payload).strip().lower()
            if state not in ("true", "false"):
                raise PayloadError("invalid_online")
            return MeterPartial(online=state == "true")
        data = _object(payload)
        if part == "emdata":
            return MeterPartial(energy_wh=_value(data, "total_act"))
        currents = (_value(data, "a_current"), _value(data, "b_current"), _value(data, "c_current"))
        return MeterPartial(currents, _value(data, "total_act_power"))


# What Tasmota SML scripts commonly name their values (the names are the script's own): the first match wins
_SML_CURRENTS = (
    ("Curr_p1", "Current_L1", "I_L1"),
    ("Curr_p2", "Current_L2", "I_L2"),
    ("Curr_p3", "Current_L3", "I_L3"),
)
_SML_POWER = ("Power_curr", "Power")
_SML_ENERGY_KWH = ("Total_in", "Total")


def _first(data: Mapping[str, Any], names: tuple[str, ...]) -> float | None:
    for name in names:
        if name in data:
            return _value(data, name)
    return None


class TasmotaSml:
    """Tasmota with an SML script: `tele/<base>/SENSOR` {"<meter>": {...}}, `tele/<base>/LWT`."""

    def topics(self, base: str) -> dict[str, str]:
        return {f"tele/{base}/SENSOR": "sensor", f"tele/{base}/LWT": "lwt"}

    def parse(self, part: str, payload: bytes) -> MeterPartial:
        if part == "lwt":
            state = _text(payload).strip().lower()
            if state not in ("online", "offline"):
                raise PayloadError("invalid_state")
            return MeterPartial(online=state == "online")
        data = _object(payload)
        known = {name for names in (*_SML_CURRENTS, _SML_POWER, _SML_ENERGY_KWH) for name in names}
        meter = next((v for v in data.values() if isinstance(v, dict) and known & set(v)), None)
        if meter is None:
            raise PayloadError("no_sml_meter", "no object with phase currents, Power_curr or Total_in")
        c1, c2, c3 = (_first(meter, names) for names in _SML_CURRENTS)
        return MeterPartial((c1, c2, c3), _first(meter, _SML_POWER), _kwh(_first(meter, _SML_ENERGY_KWH)))


class VictronGrid:
    """Victron Venus grid meter under `N/<portal>/grid/<instance>`: per-phase currents, power, energy."""

    def topics(self, base: str) -> dict[str, str]:
        parts = {f"{base}/Ac/L{n}/Current": f"current{n}" for n in range(1, PHASES + 1)}
        return {**parts, f"{base}/Ac/Power": "power", f"{base}/Ac/Energy/Forward": "energy"}

    def parse(self, part: str, payload: bytes) -> MeterPartial:
        if not payload.strip():
            return MeterPartial(online=False)
        value = _value(_object(payload), "value")
        if value is None:
            return MeterPartial()
        if part == "power":
            return MeterPartial(power_w=value)
        if part == "energy":
            return MeterPartial(energy_wh=value * 1000.0)
        phase = int(part.removeprefix("current")) - 1
        currents: list[float | None] = [None] * PHASES
        currents[phase] = value
        return MeterPartial((currents[0], currents[1], currents[2]))


def victron_keepalive_topic(base: str) -> str | None:
    """Venus OS publishes only while someone asks: `R/<portal>/keepalive` at least every 60 s (None: no portal)."""
    parts = base.split("/")
    if len(parts) >= 2 and parts[0] == "N" and parts[1] and parts[1] not in ("+", "#"):
        return f"R/{parts[1]}/keepalive"
    return None


METER_LAYOUTS: dict[str, MeterLayout] = {
    "native": NativeMeter(),
    "shelly_pro3em": ShellyPro3EM(),
    "tasmota_sml": TasmotaSml(),
    "victron": VictronGrid(),
}


# -- the ingest -----------------------------------------------------------------------------------------


class Publish(Protocol):
    def __call__(self, event: object) -> Awaitable[None]: ...


@dataclass(frozen=True, slots=True)
class MeterSpec:
    site_id: str
    layout: str = "native"  # an MQTT layout of METER_LAYOUTS, or a polled one (sunspec, sdm630)
    topic: str | None = None  # base topic (MQTT layouts)
    timeout_s: float = 5.0
    max_current_a: float = 250.0  # a phase current beyond +-this is out of range
    phases: int = PHASES  # phases the meter measures (1: only L1)


@dataclass(slots=True)
class _Meter:
    spec: MeterSpec
    current_a: list[float | None] = field(default_factory=lambda: [None] * PHASES)
    current_ts: list[datetime | None] = field(default_factory=lambda: [None] * PHASES)
    power_w: float | None = None
    energy_wh: float | None = None
    last_seen: datetime | None = None
    state: str = "unknown"  # unknown | online | silent | offline
    accepted: int = 0


@dataclass(frozen=True, slots=True)
class MeterRejected:
    received: datetime
    site_id: str | None
    topic: str
    reason: str
    payload: bytes


@dataclass(slots=True)
class GridMeters:
    """Every site's grid meter: the newest per-phase currents, liveness, rejections."""

    meters: Mapping[str, MeterSpec]
    publish: Publish
    clock: Callable[[], datetime]
    prefix: str = "coopgrid"
    rejects: Counter[str] = field(default_factory=Counter)
    rejects_by_site: dict[str | None, Counter[str]] = field(default_factory=dict)
    rejected: deque[MeterRejected] = field(default_factory=lambda: deque(maxlen=KEPT_ASIDE))
    _state: dict[str, _Meter] = field(default_factory=dict)
    _by_topic: dict[str, tuple[_Meter, MeterLayout, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for site_id, spec in self.meters.items():
            meter = self._state[site_id] = _Meter(spec)
            layout = METER_LAYOUTS.get(spec.layout)
            if layout is None:
                continue  # polled (Modbus): readings come through accept()
            base = spec.topic or f"{self.prefix}/grid/{site_id}/meter"
            for topic, part in layout.topics(base).items():
                if topic in self._by_topic:
                    raise ValueError(f"site {site_id}: meter topic {topic} is another site's too")
                self._by_topic[topic] = (meter, layout, part)

    @property
    def topic_filters(self) -> list[str]:
        return sorted(self._by_topic)

    def keepalive_topics(self) -> list[str]:
        """What to publish (empty payload) every 30 s so that Victron meters keep publishing."""
        topics = {
            victron_keepalive_topic(spec.topic)
            for spec in self.meters.values()
            if spec.layout == "victron" and spec.topic is not None
        }
        return sorted(t for t in topics if t is not None)

    # -- input --------------------------------------------------------------------------------
    async def handle(self, topic: str, payload: bytes) -> None:
        now = self.clock()
        routed = self._by_topic.get(topic)
        if routed is None:
            await self._reject(MeterRejected(now, None, topic, "unknown_topic", payload[:KEPT_BYTES]))
            return
        meter, layout, part = routed
        try:
            partial = layout.parse(part, payload)
        except PayloadError as exc:
            await self._reject(MeterRejected(now, meter.spec.site_id, topic, exc.reason, payload[:KEPT_BYTES]))
            return
        await self._take(meter, partial, topic, payload, now)

    async def accept(self, site_id: str, partial: MeterPartial, *, source: str = "modbus") -> None:
        """A reading decoded elsewhere (a Modbus poll): the same checks as an MQTT message."""
        now = self.clock()
        meter = self._state.get(site_id)
        if meter is None:
            await self._reject(MeterRejected(now, None, f"{source}/{site_id}", "unknown_site", b""))
            return
        await self._take(meter, partial, f"{source}/{site_id}", b"", now)

    async def refuse(self, site_id: str, reason: str, detail: str = "", *, source: str = "modbus") -> None:
        """A poll that produced no usable reading (a register map that does not match, a decoding error)."""
        await self._reject(MeterRejected(self.clock(), site_id, f"{source}/{site_id}", reason, detail.encode()))

    def check(self, meter: _Meter, partial: MeterPartial) -> str | None:
        """The reason a reading is refused, or None."""
        limit = meter.spec.max_current_a
        for current in partial.current_a:
            if current is not None and not (math.isfinite(current) and -limit <= current <= limit):
                return "current_out_of_range"
        power = partial.power_w
        if power is not None and not math.isfinite(power):
            return "invalid_power"
        energy = partial.energy_wh
        if energy is not None and not (math.isfinite(energy) and energy >= 0):
            return "invalid_energy"
        return None

    async def _take(self, meter: _Meter, partial: MeterPartial, topic: str, payload: bytes, now: datetime) -> None:
        site_id = meter.spec.site_id
        if partial.online is False:
            await self._set_state(meter, "offline", now)
            return
        reason = self.check(meter, partial)
        if reason is not None:
            await self._reject(MeterRejected(now, site_id, topic, reason, payload[:KEPT_BYTES]))
            return
        if partial.empty:
            return  # e.g. Victron's {"value": null}: nothing learned
        meter.accepted += 1
        meter.last_seen = now
        for phase, current in enumerate(partial.current_a):
            if current is not None:
                meter.current_a[phase], meter.current_ts[phase] = current, now
        if partial.power_w is not None:
            meter.power_w = partial.power_w
        if partial.energy_wh is not None:
            meter.energy_wh = partial.energy_wh
        currents = self._fresh_currents(meter, now)
        if currents is None:
            return  # not every phase heard yet (Victron: one topic per phase)
        if meter.state != "online":
            await self._set_state(meter, "online", now)
        if any(c is not None for c in partial.current_a):
            await self.publish(GridMeterReading(site_id, currents, meter.power_w, meter.energy_wh, now))

    def _fresh_currents(self, meter: _Meter, now: datetime) -> tuple[float, float, float] | None:
        """Every measured phase's current, each heard within the timeout; unmeasured phases count 0 A."""
        values: list[float] = []
        for phase in range(PHASES):
            if phase >= meter.spec.phases:
                values.append(0.0)
                continue
            current, ts = meter.current_a[phase], meter.current_ts[phase]
            if current is None or ts is None or (now - ts).total_seconds() > meter.spec.timeout_s:
                return None
            values.append(current)
        return values[0], values[1], values[2]

    async def _set_state(self, meter: _Meter, state: str, now: datetime) -> None:
        if state == meter.state:
            return
        previous, meter.state = meter.state, state
        if state != "online":
            meter.current_a = [None] * PHASES
            meter.current_ts = [None] * PHASES
        if state != "online" or previous != "unknown":
            log.log(
                logging.INFO if state == "online" else logging.WARNING,
                "grid meter of site %s: %s%s",
                meter.spec.site_id,
                state,
                "" if state == "online" else "; the site falls back to its static grid limit",
            )
        await self.publish(GridMeterStateChanged(meter.spec.site_id, state, state != "online", now))

    async def _reject(self, rejected: MeterRejected) -> None:
        reason = rejected.reason
        self.rejects[reason] += 1
        self.rejects_by_site.setdefault(rejected.site_id, Counter())[reason] += 1
        self.rejected.append(rejected)
        if self.rejects[reason] == 1:
            log.warning(
                "grid meter: rejected reading on %s (%s); further ones are only counted", rejected.topic, reason
            )
        await self.publish(TelemetryRejected(rejected.topic, reason, rejected.received))

    async def check_timeouts(self) -> None:
        """Meters silent for longer than their timeout are `silent`: their site falls back to its static limit."""
        now = self.clock()
        for meter in self._state.values():
            if meter.state != "online" or meter.last_seen is None:
                continue
            if self._fresh_currents(meter, now) is None:
                await self._set_state(meter, "silent", now)

    # -- views --------------------------------------------------------------------------------
    def state(self, site_id: str) -> str | None:
        meter = self._state.get(site_id)
        return None if meter is None else meter.state

    def view(self, site_id: str) -> dict[str, Any] | None:
        meter = self._state.get(site_id)
        if meter is None:
            return None
        return {
            "layout": meter.spec.layout,
            "state": meter.state,
            "fallback": meter.state != "online",
            "current_a": [None if c is None else round(c, 2) for c in meter.current_a],
            "power_w": meter.power_w,
            "energy_wh": meter.energy_wh,
            "last_seen": meter.last_seen.isoformat() if meter.last_seen else None,
            "accepted": meter.accepted,
            "rejects": dict(self.rejects_by_site.get(site_id, {})),
            "recent_rejects": [r for r in self.rejected_view() if r["site_id"] == site_id][:RECENT_IN_VIEW],
        }

    def rejected_view(self) -> list[dict[str, Any]]:
        return [
            {
                "received": r.received.isoformat(),
                "site_id": r.site_id,
                "topic": r.topic,
                "reason": r.reason,
                "payload": r.payload.decode("utf-8", errors="backslashreplace"),
            }
            for r in reversed(self.rejected)
        ]
