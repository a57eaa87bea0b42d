"""Stationary batteries in the field: state of charge and power over MQTT, validated, with liveness; and the
setpoint messages a battery is sent (topics and bytes out, nothing sent from here).

No I/O here: the gateway owns the MQTT connection and calls `handle(topic, payload)`; events go out through
the `publish` port; time comes from `clock`. Bad input never raises: it is counted by reason and battery,
and the last messages are kept aside, raw. A battery silent for longer than its timeout is `silent`: its
state of charge is not live any more (the planner goes back to its own estimate).

Layouts (one class each, like `solar.meters`; `topics(base)` names the exact topics, `parse(part, payload)`
reads one message, `setpoints(base, power_w, ...)` writes what tells the battery to charge or discharge):

- `native`: base `{prefix}/batteries/{site_id}/{battery_id}`: `<base>/telemetry` JSON `{"ts"?, "soc_pct"
  (0-100), "power_w" (AC side, + charging, - discharging), "voltage_v"?}`, `<base>/state` `online` /
  `offline` (retained, the battery's last will); setpoint `<base>/setpoint` JSON `{"ts", "power_w",
  "valid_s"}` (+ charge, - discharge; past `valid_s` without a new one the battery idles);
- `victron`: Venus OS dbus-mqtt, base `N/<portal>/battery/<instance>`: `<base>/Soc` (%), `<base>/Dc/0/Power`
  (W, + charging), `<base>/Dc/0/Voltage`, each `{"value": x}` (`{"value": null}`: an invalid reading,
  skipped; an empty payload: the device is gone); setpoint: ESS external control (Hub4 mode 3), one
  `W/<portal>/vebus/<vebus instance>/Hub4/L<n>/AcPowerSetpoint` `{"value": W}` per phase (+ takes from the
  grid: charges; - feeds the site: discharges).
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

from solar.accounting import EnergyMinutes
from solar.adapters import PayloadError
from solar.events import BatteryReading, BatteryStateChanged, TelemetryRejected
from solar.meters import _object, _text, _value, victron_keepalive_topic
from solar.telemetry import UtcTimestamp

log = logging.getLogger(__name__)

KEPT_ASIDE = 200
KEPT_BYTES = 4096
POWER_TOLERANCE = 1.2  # power beyond 120 % of the battery's rating is implausible
CHARGE, DISCHARGE = "charge", "discharge"  # the two energy keys per battery: `{battery_id}/charge`, ...


@dataclass(frozen=True, slots=True)
class BatteryPartial:
    """What one battery message says: any of state of charge (a share), power (+ charging), voltage, reachability."""

    soc: float | None = None
    power_w: float | None = None
    voltage_v: float | None = None
    online: bool | None = None
    ts: datetime | None = None  # the sample's own time (native telemetry), else the time of receipt

    @property
    def empty(self) -> bool:
        return self.soc is None and self.power_w is None and self.voltage_v is None and self.online is None


class BatteryLayout(Protocol):
    def topics(self, base: str) -> dict[str, str]:
        """The exact topics of one battery under `base`, each with the part it carries."""
        ...

    def parse(self, part: str, payload: bytes) -> BatteryPartial: ...

    def setpoints(self, base: str, power_w: float, ts: datetime, valid_s: float) -> list[tuple[str, bytes]]:
        """The messages that ask the battery for `power_w` (+ charge, - discharge) from `ts` on."""
        ...


class _NativeTelemetry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ts: UtcTimestamp | None = None
    soc_pct: float = Field(ge=0, le=100, allow_inf_nan=False)
    power_w: float = Field(allow_inf_nan=False)
    voltage_v: float | None = Field(None, ge=0, allow_inf_nan=False)


class NativeBattery:
    """CoopGrid's own battery JSON under `{prefix}/batteries/{site_id}/{battery_id}`."""

    def topics(self, base: str) -> dict[str, str]:
        return {f"{base}/telemetry": "telemetry", f"{base}/state": "state"}

    def parse(self, part: str, payload: bytes) -> BatteryPartial:
        if part == "state":
            state = _text(payload).strip().lower()
            if state not in ("online", "offline"):
                raise PayloadError("invalid_state")
            return BatteryPartial(online=state == "online")
        data = _object(payload)
        try:
            telemetry = _NativeTelemetry.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = str(first["loc"][0]) if first["loc"] else "payload"
            raise PayloadError(f"invalid_{where}", first["msg"]) from exc
        return BatteryPartial(telemetry.soc_pct / 100.0, telemetry.power_w, telemetry.voltage_v, ts=telemetry.ts)

    def setpoints(self, base: str, power_w: float, ts: datetime, valid_s: float) -> list[tuple[str, bytes]]:
        body = {"ts": ts.isoformat(), "power_w": round(power_w, 1), "valid_s": valid_s}
        return [(f"{base}/setpoint", json.dumps(body).encode())]


VICTRON_VEBUS_INSTANCE = 276  # the VE.Bus device instance of a Multi on a GX's first VE.Bus port


class VictronBattery:
    """Victron Venus battery (`N/<portal>/battery/<instance>`): Soc %, Dc/0/Power, Dc/0/Voltage as {"value": x}."""

    def __init__(self, vebus_instance: int = VICTRON_VEBUS_INSTANCE, phases: int = 3) -> None:
        self.vebus_instance = vebus_instance
        self.phases = phases

    def topics(self, base: str) -> dict[str, str]:
        return {f"{base}/Soc": "soc", f"{base}/Dc/0/Power": "power", f"{base}/Dc/0/Voltage": "voltage"}

    def parse(self, part: str, payload: bytes) -> BatteryPartial:
        if not payload.strip():
            return BatteryPartial(online=False)
        value = _value(_object(payload), "value")
        if value is None:
            return BatteryPartial()
        if part == "soc":
            if not 0 <= value <= 100:
                raise PayloadError("invalid_soc")
            return BatteryPartial(soc=value / 100.0)
        if part == "voltage":
            if value < 0:
                raise PayloadError("invalid_voltage")
            return BatteryPartial(voltage_v=value)
        return BatteryPartial(power_w=value)

    def setpoints(self, base: str, power_w: float, ts: datetime, valid_s: float) -> list[tuple[str, bytes]]:
        portal = victron_portal(base)
        if portal is None:
            return []
        per_phase = round(power_w / self.phases, 1)
        return [
            (
                f"W/{portal}/vebus/{self.vebus_instance}/Hub4/L{n}/AcPowerSetpoint",
                json.dumps({"value": per_phase}).encode(),
            )
            for n in range(1, self.phases + 1)
        ]


def victron_portal(base: str) -> str | None:
    """The portal id of a `N/<portal>/...` base topic (None: not one)."""
    keepalive = victron_keepalive_topic(base)
    return keepalive.split("/")[1] if keepalive is not None else None


def battery_layout(layout: str, *, vebus_instance: int = VICTRON_VEBUS_INSTANCE, phases: int = 3) -> BatteryLayout:
    if layout == "native":
        return NativeBattery()
    if layout == "victron":
        return VictronBattery(vebus_instance, phases)
    raise ValueError(f"unknown battery layout {layout!r} (native, victron)")


# -- the ingest -----------------------------------------------------------------------------------------


class Publish(Protocol):
    def __call__(self, event: object) -> Awaitable[None]: ...


@dataclass(frozen=True, slots=True)
class BatterySpec:
    id: str
    site_id: str
    max_power_w: float
    layout: str = "native"
    topic: str | None = None  # base topic (victron: N/<portal>/battery/<instance>); native: derived
    timeout_s: float = 30.0
    vebus_instance: int = VICTRON_VEBUS_INSTANCE
    phases: int = 3


@dataclass(slots=True)
class _Battery:
    spec: BatterySpec
    base: str
    layout: BatteryLayout
    soc: float | None = None
    soc_seen: datetime | None = None
    power_w: float | None = None
    voltage_v: float | None = None
    last_seen: datetime | None = None
    last_ts: datetime | None = None
    state: str = "unknown"  # unknown | online | silent | offline
    accepted: int = 0


@dataclass(frozen=True, slots=True)
class BatteryRejected:
    received: datetime
    battery_id: str | None
    topic: str
    reason: str
    payload: bytes


@dataclass(slots=True)
class BatteryTelemetry:
    """Every configured battery: its newest state of charge and power, liveness, rejections, energy per minute."""

    batteries: Mapping[str, BatterySpec]
    publish: Publish
    clock: Callable[[], datetime]
    prefix: str = "coopgrid"
    rejects: Counter[str] = field(default_factory=Counter)
    rejects_by_battery: dict[str | None, Counter[str]] = field(default_factory=dict)
    rejected: deque[BatteryRejected] = field(default_factory=lambda: deque(maxlen=KEPT_ASIDE))
    # charge and discharge energy (AC side) per battery and minute, from the power (`{id}/charge`, `{id}/discharge`)
    minutes: EnergyMinutes = field(default_factory=EnergyMinutes)
    _state: dict[str, _Battery] = field(default_factory=dict)
    _by_topic: dict[str, tuple[_Battery, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for battery_id, spec in self.batteries.items():
            layout = battery_layout(spec.layout, vebus_instance=spec.vebus_instance, phases=spec.phases)
            base = spec.topic or f"{self.prefix}/batteries/{spec.site_id}/{battery_id}"
            battery = self._state[battery_id] = _Battery(spec, base, layout)
            for topic, part in layout.topics(base).items():
                if topic in self._by_topic:
                    raise ValueError(f"battery {battery_id}: topic {topic} is another battery's too")
                self._by_topic[topic] = (battery, part)

    @property
    def topic_filters(self) -> list[str]:
        return sorted(self._by_topic)

    def keepalive_topics(self) -> list[str]:
        """Victron Venus publishes only while asked: `R/<portal>/keepalive` (at least every 60 s)."""
        topics = {victron_keepalive_topic(b.base) for b in self._state.values() if b.spec.layout == "victron"}
        return sorted(t for t in topics if t is not None)

    # -- input --------------------------------------------------------------------------------
    async def handle(self, topic: str, payload: bytes) -> None:
        now = self.clock()
        routed = self._by_topic.get(topic)
        if routed is None:
            await self._reject(BatteryRejected(now, None, topic, "unknown_topic", payload[:KEPT_BYTES]))
            return
        battery, part = routed
        try:
            partial = battery.layout.parse(part, payload)
        except PayloadError as exc:
            await self._reject(BatteryRejected(now, battery.spec.id, topic, exc.reason, payload[:KEPT_BYTES]))
            return
        await self._take(battery, partial, topic, payload, now)

    def check(self, battery: _Battery, partial: BatteryPartial) -> str | None:
        """The reason a reading is refused, or None."""
        if partial.soc is not None and not (math.isfinite(partial.soc) and 0.0 <= partial.soc <= 1.0):
            return "invalid_soc"
        power = partial.power_w
        limit = battery.spec.max_power_w * POWER_TOLERANCE
        if power is not None and not (math.isfinite(power) and abs(power) <= limit):
            return "power_above_rating"
        voltage = partial.voltage_v
        if voltage is not None and not (math.isfinite(voltage) and voltage >= 0):
            return "invalid_voltage"
        return None

    async def _take(
        self, battery: _Battery, partial: BatteryPartial, topic: str, payload: bytes, now: datetime
    ) -> None:
        if partial.online is False:
            await self._set_state(battery, "offline", now)
            return
        reason = self.check(battery, partial)
        if reason is not None:
            await self._reject(BatteryRejected(now, battery.spec.id, topic, reason, payload[:KEPT_BYTES]))
            return
        if partial.empty:
            return  # e.g. Victron's {"value": null}: nothing learned
        ts = partial.ts or now
        if battery.last_ts is not None and partial.ts is not None and ts <= battery.last_ts:
            self.rejects["out_of_order_or_duplicate"] += 1
            return
        battery.accepted += 1
        battery.last_seen = now
        if partial.ts is not None:  # the order of samples that carry their own time
            battery.last_ts = partial.ts
        if partial.soc is not None:
            battery.soc, battery.soc_seen = partial.soc, now
        if partial.voltage_v is not None:
            battery.voltage_v = partial.voltage_v
        if partial.power_w is not None:
            battery.power_w = partial.power_w
            self.minutes.power(f"{battery.spec.id}/{CHARGE}", ts, max(0.0, partial.power_w))
            self.minutes.power(f"{battery.spec.id}/{DISCHARGE}", ts, max(0.0, -partial.power_w))
        if battery.state != "online" and partial.online is not None:
            await self._set_state(battery, "online", now)
        if battery.soc is None:
            return  # not live until its state of charge is known
        if battery.state != "online":
            await self._set_state(battery, "online", now)
        await self.publish(BatteryReading(battery.spec.id, battery.spec.site_id, battery.soc, battery.power_w, now))

    async def _set_state(self, battery: _Battery, state: str, now: datetime) -> None:
        if state == battery.state:
            return
        previous, battery.state = battery.state, state
        if state != "online":
            battery.power_w = None
        if state != "online" or previous != "unknown":
            log.log(
                logging.INFO if state == "online" else logging.WARNING,
                "battery %s: %s%s",
                battery.spec.id,
                state,
                "" if state == "online" else "; the planner uses its own estimate of the state of charge",
            )
        await self.publish(BatteryStateChanged(battery.spec.id, battery.spec.site_id, state, now))

    async def _reject(self, rejected: BatteryRejected) -> None:
        reason = rejected.reason
        self.rejects[reason] += 1
        self.rejects_by_battery.setdefault(rejected.battery_id, Counter())[reason] += 1
        self.rejected.append(rejected)
        if self.rejects[reason] == 1:
            log.warning("battery: rejected telemetry on %s (%s); further ones are only counted", rejected.topic, reason)
        await self.publish(TelemetryRejected(rejected.topic, reason, rejected.received))

    async def check_timeouts(self) -> None:
        """Batteries silent for longer than their timeout are `silent`: their state of charge is not live."""
        now = self.clock()
        for battery in self._state.values():
            if battery.state != "online" or battery.last_seen is None:
                continue
            if (now - battery.last_seen).total_seconds() > battery.spec.timeout_s:
                await self._set_state(battery, "silent", now)

    # -- output -------------------------------------------------------------------------------
    def setpoint_messages(self, battery_id: str, power_w: float, valid_s: float) -> list[tuple[str, bytes]]:
        """What to publish so that the battery charges (+) or discharges (-) `power_w`, within its rating."""
        battery = self._state.get(battery_id)
        if battery is None or not math.isfinite(power_w):
            return []
        limit = battery.spec.max_power_w
        return battery.layout.setpoints(battery.base, max(-limit, min(limit, power_w)), self.clock(), valid_s)

    # -- views --------------------------------------------------------------------------------
    def soc(self, battery_id: str) -> float | None:
        """The measured state of charge while the battery's telemetry is live (else None)."""
        battery = self._state.get(battery_id)
        if battery is None or battery.state != "online" or battery.soc_seen is None:
            return None
        if (self.clock() - battery.soc_seen).total_seconds() > battery.spec.timeout_s:
            return None
        return battery.soc

    def view(self, battery_id: str) -> dict[str, Any] | None:
        battery = self._state.get(battery_id)
        if battery is None:
            return None
        return {
            "id": battery_id,
            "site_id": battery.spec.site_id,
            "layout": battery.spec.layout,
            "state": battery.state,
            "live": self.soc(battery_id) is not None,
            "soc": None if battery.soc is None else round(battery.soc, 4),
            "power_w": battery.power_w,
            "voltage_v": battery.voltage_v,
            "last_seen": battery.last_seen.isoformat() if battery.last_seen else None,
            "accepted": battery.accepted,
            "rejects": dict(self.rejects_by_battery.get(battery_id, {})),
        }

    def rejected_view(self) -> list[dict[str, Any]]:
        return [
            {
                "received": r.received.isoformat(),
                "battery_id": r.battery_id,
                "topic": r.topic,
                "reason": r.reason,
                "payload": r.payload.decode("utf-8", errors="backslashreplace"),
            }
            for r in reversed(self.rejected)
        ]
