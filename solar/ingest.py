"""Inverter telemetry ingest: topic routing, validation, live power, liveness and today's energy.

No I/O here: the gateway owns the MQTT connection and calls `handle(topic,
payload)`; events go out through the `publish` port; time comes from `clock`.
Bad input never raises: it is counted by reason and the last messages are kept
aside, raw, for inspection.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from solar.accounting import EnergyMinutes, counter_delta
from solar.adapters import ADAPTERS, LAYOUTS, Layout, Partial, PayloadError
from solar.events import InverterLivenessChanged, InverterPowerChanged, TelemetryRejected

log = logging.getLogger(__name__)

POLLED = ("modbus_sunspec",)  # inverters read by a poller (gateway.modbus), not over MQTT
RATING_TOLERANCE = 1.2  # power above 120 % of the rating is implausible
KEPT_ASIDE = 200
KEPT_BYTES = 4096  # of a rejected payload


class Publish(Protocol):
    def __call__(self, event: object) -> Awaitable[None]: ...


@dataclass(frozen=True, slots=True)
class InverterSpec:
    id: str
    rated_power_w: float
    adapter: str = "native"
    topic: str | None = None  # base topic of a third-party layout (OpenDTU serial, Tasmota topic, ...)


@dataclass(frozen=True, slots=True)
class ParkSpec:
    id: str
    member_id: str
    inverters: Mapping[str, InverterSpec]


@dataclass(slots=True)
class _Inverter:
    spec: InverterSpec
    park_id: str
    power_w: float = 0.0
    state: str = "unknown"  # unknown | online | offline | stale
    last_seen: datetime | None = None
    last_sample_ts: datetime | None = None
    last_power_ts: datetime | None = None  # third-party layouts: power, energy and state arrive apart
    last_energy_ts: datetime | None = None
    last_state_ts: datetime | None = None
    last_energy_wh: float | None = None
    energy_today_wh: float = 0.0
    day: str = ""


@dataclass(frozen=True, slots=True)
class Reading:
    """What one accepted telemetry message says about one inverter.

    `ts` is the sample's own time (native telemetry) or the time of receipt
    (third-party layouts and state topics carry none). Parsing is stateless, so
    with shared subscriptions the instance that received a message parses it and
    every instance applies the same Reading.
    """

    park_id: str
    inverter_id: str
    kind: Literal["sample", "partial", "state"]
    ts: datetime
    received: datetime
    power_w: float | None = None
    energy_wh: float | None = None
    online: bool | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    received: datetime
    topic: str
    reason: str
    payload: bytes


Parsed = Reading | Rejected


class Forward(Protocol):
    def __call__(self, item: Parsed) -> Awaitable[None]: ...


@dataclass(slots=True)
class SolarIngest:
    parks: Mapping[str, ParkSpec]
    publish: Publish
    clock: Callable[[], datetime]
    prefix: str = "coopgrid"
    stale_after_s: float = 15.0
    # Shared ingest: what this instance parsed goes here (to every instance) instead of being applied here.
    forward: Forward | None = None
    rejects: Counter[str] = field(default_factory=Counter)
    rejects_by_park: dict[str | None, Counter[str]] = field(default_factory=dict)  # None: no configured park
    rejected: deque[Rejected] = field(default_factory=lambda: deque(maxlen=KEPT_ASIDE))
    accepted: int = 0
    parsed: int = 0  # messages this instance parsed (with shared subscriptions: its share of them)
    minutes: EnergyMinutes = field(default_factory=EnergyMinutes)  # exact one-minute energy, drained to SQL
    _inverters: dict[tuple[str, str], _Inverter] = field(default_factory=dict)
    _by_topic: dict[str, tuple[_Inverter, Layout, str]] = field(default_factory=dict)
    _polled: dict[str, _Inverter] = field(default_factory=dict)  # "modbus/{park}/{inverter}" -> the inverter

    def __post_init__(self) -> None:
        for park in self.parks.values():
            for spec in park.inverters.values():
                inverter = self._inverters[(park.id, spec.id)] = _Inverter(spec, park.id)
                if spec.adapter in LAYOUTS:
                    if not spec.topic:
                        raise ValueError(f"park {park.id} inverter {spec.id}: adapter {spec.adapter} needs a topic")
                    layout = LAYOUTS[spec.adapter]
                    for topic, part in layout.topics(spec.topic).items():
                        self._by_topic[topic] = (inverter, layout, part)
                elif spec.adapter in POLLED:
                    self._polled[f"modbus/{park.id}/{spec.id}"] = inverter
                elif spec.adapter not in ADAPTERS:
                    known = sorted([*ADAPTERS, *LAYOUTS, *POLLED])
                    raise ValueError(f"park {park.id} inverter {spec.id}: unknown adapter {spec.adapter!r} ({known})")

    @property
    def topic_filters(self) -> list[str]:
        """The native wildcards, plus the exact topics of inverters in third-party layouts."""
        return [f"{self.prefix}/solar/+/+/telemetry", f"{self.prefix}/solar/+/+/state", *sorted(self._by_topic)]

    # -- input --------------------------------------------------------------------------
    async def handle(self, topic: str, payload: bytes) -> None:
        parsed = self.parse(topic, payload, self.clock())
        if parsed is None:
            return
        if self.forward is not None:
            await self.forward(parsed)
        else:
            await self.apply(parsed)

    async def accept_polled(self, park_id: str, inverter_id: str, partial: Partial) -> None:
        """A reading a poller decoded (Modbus/SunSpec): the same checks, liveness and energy as MQTT telemetry.

        Every instance polls the devices it is configured with, so a polled reading is not forwarded to the
        others (they have their own), unlike a shared MQTT subscription's."""
        now, topic = self.clock(), f"modbus/{park_id}/{inverter_id}"
        self.parsed += 1
        inverter = self._polled.get(topic)
        parsed: Parsed | None
        if inverter is None:
            parsed = Rejected(now, topic, "unknown_inverter", b"")
        else:
            parsed = self._check_partial(inverter, partial, topic, b"", now)
        if parsed is not None:  # applied here even with a share group: every instance polls its devices itself
            await self.apply(parsed)

    async def refuse_polled(self, park_id: str, inverter_id: str, reason: str, detail: str = "") -> None:
        """A poll that gave no usable reading (a register map that does not match): counted and kept aside."""
        await self._reject(Rejected(self.clock(), f"modbus/{park_id}/{inverter_id}", reason, detail.encode()))

    def park_of(self, topic: str) -> str | None:
        """The configured park a telemetry topic belongs to (its own, or its inverter's layout), if any."""
        third_party = self._by_topic.get(topic)
        if third_party is not None:
            return third_party[0].park_id
        polled = self._polled.get(topic)
        if polled is not None:
            return polled.park_id
        parts, base = topic.split("/"), self.prefix.split("/")
        if len(parts) == len(base) + 4 and parts[: len(base)] == base and parts[len(base)] == "solar":
            park_id = parts[len(base) + 1]
            return park_id if park_id in self.parks else None
        return None

    def parse(self, topic: str, payload: bytes, now: datetime) -> Parsed | None:
        """Topic routing, the adapter and the checks that need no state; None: nothing learned."""
        self.parsed += 1
        third_party = self._by_topic.get(topic)
        if third_party is not None:
            inverter, layout, part = third_party
            try:
                partial = layout.parse(part, payload)
            except PayloadError as exc:
                return Rejected(now, topic, exc.reason, payload[:KEPT_BYTES])
            return self._check_partial(inverter, partial, topic, payload, now)
        parts = topic.split("/")
        base = self.prefix.split("/")
        if len(parts) != len(base) + 4 or parts[: len(base)] != base or parts[len(base)] != "solar":
            return Rejected(now, topic, "unknown_topic", payload[:KEPT_BYTES])
        park_id, inverter_id, kind = parts[len(base) + 1 :]
        native = self._inverters.get((park_id, inverter_id))
        if native is None:
            return Rejected(now, topic, "unknown_inverter", payload[:KEPT_BYTES])
        if kind == "state":
            state = payload.decode("utf-8", errors="replace").strip().lower()
            if state not in ("online", "offline"):
                return Rejected(now, topic, "invalid_state", payload[:KEPT_BYTES])
            return Reading(park_id, inverter_id, "state", now, now, online=state == "online")
        if kind != "telemetry":
            return Rejected(now, topic, "unknown_topic", payload[:KEPT_BYTES])
        try:
            sample = ADAPTERS[native.spec.adapter](park_id, inverter_id, payload, now)
        except PayloadError as exc:
            return Rejected(now, topic, exc.reason, payload[:KEPT_BYTES])
        if sample.power_w > native.spec.rated_power_w * RATING_TOLERANCE:
            return Rejected(now, topic, "power_above_rating", payload[:KEPT_BYTES])
        if sample.energy_wh is not None and not (math.isfinite(sample.energy_wh) and sample.energy_wh >= 0):
            return Rejected(now, topic, "invalid_energy", payload[:KEPT_BYTES])
        return Reading(park_id, inverter_id, "sample", sample.ts, now, sample.power_w, sample.energy_wh, True)

    def _check_partial(
        self, inverter: _Inverter, partial: Partial, topic: str, payload: bytes, now: datetime
    ) -> Parsed | None:
        """A third-party message: power, energy and reachability may each come on their own topic."""
        park_id, inverter_id = inverter.park_id, inverter.spec.id
        if partial.online is False:
            return Reading(park_id, inverter_id, "state", now, now, online=False)
        power, energy = partial.power_w, partial.energy_wh
        if power is not None and (power < 0 or power > inverter.spec.rated_power_w * RATING_TOLERANCE):
            return Rejected(now, topic, "power_above_rating" if power > 0 else "negative_power", payload[:KEPT_BYTES])
        if energy is not None and energy < 0:
            return Rejected(now, topic, "negative_energy", payload[:KEPT_BYTES])
        if power is None and energy is None and partial.online is None:
            return None  # e.g. Victron's {"value": null}: an invalid reading, nothing learned
        return Reading(park_id, inverter_id, "partial", now, now, power, energy, partial.online)

    async def apply(self, item: Parsed) -> None:
        """Take in a parsed message (here, or by whichever instance received it): live state and energy."""
        if isinstance(item, Rejected):
            await self._reject(item)
            return
        inverter = self._inverters.get((item.park_id, item.inverter_id))
        if inverter is None:  # another instance's configuration knows an inverter this one does not
            await self._reject(Rejected(item.received, f"{item.park_id}/{item.inverter_id}", "unknown_inverter", b""))
            return
        if item.kind == "state":
            await self._on_state(inverter, item)
        elif item.kind == "sample":
            await self._on_sample(inverter, item)
        else:
            await self._on_partial(inverter, item)

    def _stale_order(self, park_id: str, ts: datetime, last: datetime | None, *, same_time_too: bool = True) -> bool:
        """Older than what was applied already: out of order (with shared subscriptions, readings parsed by
        different instances may cross on their way), or a duplicate. Counted; the newer value stands."""
        if last is not None and (ts <= last if same_time_too else ts < last):
            self.rejects["out_of_order_or_duplicate"] += 1
            self.rejects_by_park.setdefault(park_id, Counter())["out_of_order_or_duplicate"] += 1
            return True
        return False

    async def _on_state(self, inverter: _Inverter, reading: Reading) -> None:
        if self._stale_order(inverter.park_id, reading.ts, inverter.last_state_ts, same_time_too=False):
            return
        if not reading.online:
            inverter.power_w = 0.0
        await self._set_state(inverter, "online" if reading.online else "offline", reading.ts)

    async def _on_sample(self, inverter: _Inverter, reading: Reading) -> None:
        if self._stale_order(inverter.park_id, reading.ts, inverter.last_sample_ts):
            return
        power = reading.power_w or 0.0
        self.accepted += 1
        inverter.last_sample_ts = reading.ts
        inverter.last_seen = reading.received
        inverter.power_w = power
        self._count_energy(inverter, reading.energy_wh, reading.received)
        key = f"{inverter.park_id}/{inverter.spec.id}"
        if reading.energy_wh is not None:
            self.minutes.counter(key, reading.ts, reading.energy_wh)
        else:
            self.minutes.power(key, reading.ts, power)
        if inverter.state != "online":
            await self._set_state(inverter, "online", reading.received)
        await self.publish(InverterPowerChanged(inverter.park_id, inverter.spec.id, power, False, reading.received))

    async def _on_partial(self, inverter: _Inverter, reading: Reading) -> None:
        now, key = reading.received, f"{inverter.park_id}/{inverter.spec.id}"
        power, energy = reading.power_w, reading.energy_wh
        if power is not None and self._stale_order(
            inverter.park_id, reading.ts, inverter.last_power_ts, same_time_too=False
        ):
            power = None
        if energy is not None and self._stale_order(
            inverter.park_id, reading.ts, inverter.last_energy_ts, same_time_too=False
        ):
            energy = None
        if power is None and energy is None and reading.online is None:
            return
        if power is not None:
            inverter.power_w, inverter.last_power_ts = power, reading.ts
        if energy is not None:
            inverter.last_energy_ts = reading.ts
            self._count_energy(inverter, energy, now)
            self.minutes.counter(key, reading.ts, energy)
        elif power is not None:  # third-party layouts carry no time: the time of receipt
            self.minutes.power(key, reading.ts, power)
        self.accepted += 1
        inverter.last_seen = now
        if inverter.state != "online":
            await self._set_state(inverter, "online", now)
        if power is not None:
            await self.publish(InverterPowerChanged(inverter.park_id, inverter.spec.id, inverter.power_w, False, now))

    def _count_energy(self, inverter: _Inverter, energy_wh: float | None, now: datetime) -> None:
        day = now.date().isoformat()
        if day != inverter.day:
            inverter.day, inverter.energy_today_wh = day, 0.0
        if energy_wh is None:
            return
        previous = inverter.last_energy_wh
        delta = 0.0 if previous is None else counter_delta(previous, energy_wh)
        if delta is None:
            return  # a glitch: the previous reading stands
        inverter.last_energy_wh = energy_wh
        inverter.energy_today_wh += delta

    async def _set_state(self, inverter: _Inverter, state: str, now: datetime) -> None:
        if state == inverter.state:
            return
        inverter.state, inverter.last_state_ts = state, now
        await self.publish(InverterLivenessChanged(inverter.park_id, inverter.spec.id, state, now))
        if state != "online":
            await self.publish(InverterPowerChanged(inverter.park_id, inverter.spec.id, 0.0, True, now))

    async def _reject(self, rejected: Rejected) -> None:
        reason = rejected.reason
        self.rejects[reason] += 1
        self.rejects_by_park.setdefault(self.park_of(rejected.topic), Counter())[reason] += 1
        self.rejected.append(rejected)
        if self.rejects[reason] == 1:
            log.warning("solar: rejected telemetry on %s (%s); further ones are only counted", rejected.topic, reason)
        await self.publish(TelemetryRejected(rejected.topic, reason, rejected.received))

    async def check_staleness(self) -> None:
        """Inverters silent for stale_after_s count 0 W until they speak again."""
        now = self.clock()
        for inverter in self._inverters.values():
            silent = inverter.last_seen is not None and (now - inverter.last_seen).total_seconds() > self.stale_after_s
            if inverter.state == "online" and silent:
                await self._set_state(inverter, "stale", now)

    # -- views -------------------------------------------------------------------------------
    def _live(self, inverter: _Inverter) -> float:
        return inverter.power_w if inverter.state == "online" else 0.0

    def total_power_w(self) -> float:
        """The cooperative's live green power: online inverters only."""
        return sum(self._live(inverter) for inverter in self._inverters.values())

    def park_power_w(self, park_id: str) -> float:
        return sum(self._live(i) for (park, _), i in self._inverters.items() if park == park_id)

    def parks_view(self) -> list[dict[str, Any]]:
        views = []
        for park in sorted(self.parks.values(), key=lambda p: p.id):
            inverters = [self._inverters[(park.id, inv_id)] for inv_id in sorted(park.inverters)]
            views.append(
                {
                    "id": park.id,
                    "member_id": park.member_id,
                    "power_w": round(self.park_power_w(park.id), 1),
                    "energy_today_wh": round(sum(i.energy_today_wh for i in inverters), 1),
                    "inverters": [
                        {
                            "id": i.spec.id,
                            "power_w": round(self._live(i), 1),
                            "rated_power_w": i.spec.rated_power_w,
                            "state": i.state,
                            "last_seen": i.last_seen.isoformat() if i.last_seen else None,
                        }
                        for i in inverters
                    ],
                }
            )
        return views

    def rejected_view(self) -> list[dict[str, Any]]:
        return [
            {
                "received": r.received.isoformat(),
                "topic": r.topic,
                "park_id": self.park_of(r.topic),
                "reason": r.reason,
                "payload": r.payload.decode("utf-8", errors="backslashreplace"),
            }
            for r in reversed(self.rejected)
        ]
