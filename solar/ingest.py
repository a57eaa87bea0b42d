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
from typing import Any, Protocol

from solar.accounting import EnergyMinutes
from solar.adapters import ADAPTERS, LAYOUTS, Layout, Partial, PayloadError
from solar.events import InverterLivenessChanged, InverterPowerChanged, TelemetryRejected
from solar.telemetry import Sample

log = logging.getLogger(__name__)

RATING_TOLERANCE = 1.2  # power above 120 % of the rating is implausible
KEPT_ASIDE = 200


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
    last_energy_wh: float | None = None
    energy_today_wh: float = 0.0
    day: str = ""
    counter_resets: int = 0


@dataclass(frozen=True, slots=True)
class Rejected:
    received: datetime
    topic: str
    reason: str
    payload: bytes


@dataclass(slots=True)
class SolarIngest:
    parks: Mapping[str, ParkSpec]
    publish: Publish
    clock: Callable[[], datetime]
    prefix: str = "coopgrid"
    stale_after_s: float = 15.0
    rejects: Counter[str] = field(default_factory=Counter)
    rejected: deque[Rejected] = field(default_factory=lambda: deque(maxlen=KEPT_ASIDE))
    accepted: int = 0
    minutes: EnergyMinutes = field(default_factory=EnergyMinutes)  # exact one-minute energy, drained to SQL
    _inverters: dict[tuple[str, str], _Inverter] = field(default_factory=dict)
    _by_topic: dict[str, tuple[_Inverter, Layout, str]] = field(default_factory=dict)

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
                elif spec.adapter not in ADAPTERS:
                    known = sorted([*ADAPTERS, *LAYOUTS])
                    raise ValueError(f"park {park.id} inverter {spec.id}: unknown adapter {spec.adapter!r} ({known})")

    @property
    def topic_filters(self) -> list[str]:
        """The native wildcards, plus the exact topics of inverters in third-party layouts."""
        return [f"{self.prefix}/solar/+/+/telemetry", f"{self.prefix}/solar/+/+/state", *sorted(self._by_topic)]

    # -- input --------------------------------------------------------------------------
    async def handle(self, topic: str, payload: bytes) -> None:
        now = self.clock()
        third_party = self._by_topic.get(topic)
        if third_party is not None:
            inverter, layout, part = third_party
            try:
                partial = layout.parse(part, payload)
            except PayloadError as exc:
                await self._reject(topic, exc.reason, payload, now)
                return
            await self._on_partial(inverter, partial, topic, payload, now)
            return
        parts = topic.split("/")
        base = self.prefix.split("/")
        if len(parts) != len(base) + 4 or parts[: len(base)] != base or parts[len(base)] != "solar":
            await self._reject(topic, "unknown_topic", payload, now)
            return
        park_id, inverter_id, kind = parts[len(base) + 1 :]
        native = self._inverters.get((park_id, inverter_id))
        if native is None:
            await self._reject(topic, "unknown_inverter", payload, now)
            return
        inverter = native
        if kind == "state":
            await self._on_state(inverter, payload, topic, now)
        elif kind == "telemetry":
            try:
                sample = ADAPTERS[inverter.spec.adapter](park_id, inverter_id, payload, now)
            except PayloadError as exc:
                await self._reject(topic, exc.reason, payload, now)
                return
            await self._on_sample(inverter, sample, topic, payload, now)
        else:
            await self._reject(topic, "unknown_topic", payload, now)

    async def _on_state(self, inverter: _Inverter, payload: bytes, topic: str, now: datetime) -> None:
        state = payload.decode("utf-8", errors="replace").strip().lower()
        if state not in ("online", "offline"):
            await self._reject(topic, "invalid_state", payload, now)
            return
        if state == "offline":
            inverter.power_w = 0.0
        await self._set_state(inverter, state, now)

    async def _on_sample(self, inverter: _Inverter, sample: Sample, topic: str, payload: bytes, now: datetime) -> None:
        if sample.power_w > inverter.spec.rated_power_w * RATING_TOLERANCE:
            await self._reject(topic, "power_above_rating", payload, now)
            return
        if sample.energy_wh is not None and not (math.isfinite(sample.energy_wh) and sample.energy_wh >= 0):
            await self._reject(topic, "invalid_energy", payload, now)
            return
        if inverter.last_sample_ts is not None and sample.ts <= inverter.last_sample_ts:
            self.rejects["out_of_order_or_duplicate"] += 1  # counted, harmless: the newer value stands
            return
        self.accepted += 1
        inverter.last_sample_ts = sample.ts
        inverter.last_seen = now
        inverter.power_w = sample.power_w
        self._count_energy(inverter, sample.energy_wh, now)
        key = f"{inverter.park_id}/{inverter.spec.id}"
        if sample.energy_wh is not None:
            self.minutes.counter(key, sample.ts, sample.energy_wh)
        else:
            self.minutes.power(key, sample.ts, sample.power_w)
        if inverter.state != "online":
            await self._set_state(inverter, "online", now)
        await self.publish(InverterPowerChanged(inverter.park_id, inverter.spec.id, sample.power_w, False, now))

    async def _on_partial(
        self, inverter: _Inverter, partial: Partial, topic: str, payload: bytes, now: datetime
    ) -> None:
        """A third-party message: power, energy and reachability may each come on their own topic."""
        if partial.online is False:
            inverter.power_w = 0.0
            await self._set_state(inverter, "offline", now)
            return
        if partial.power_w is not None:
            if partial.power_w < 0 or partial.power_w > inverter.spec.rated_power_w * RATING_TOLERANCE:
                await self._reject(
                    topic, "power_above_rating" if partial.power_w > 0 else "negative_power", payload, now
                )
                return
            inverter.power_w = partial.power_w
        if partial.energy_wh is not None:
            if partial.energy_wh < 0:
                await self._reject(topic, "negative_energy", payload, now)
                return
            self._count_energy(inverter, partial.energy_wh, now)
            self.minutes.counter(f"{inverter.park_id}/{inverter.spec.id}", now, partial.energy_wh)
        elif partial.power_w is not None:  # third-party layouts carry no time: the time of receipt
            self.minutes.power(f"{inverter.park_id}/{inverter.spec.id}", now, partial.power_w)
        if partial.power_w is None and partial.energy_wh is None and partial.online is None:
            return  # e.g. Victron's {"value": null}: an invalid reading, nothing learned
        self.accepted += 1
        inverter.last_seen = now
        if inverter.state != "online":
            await self._set_state(inverter, "online", now)
        if partial.power_w is not None:
            await self.publish(InverterPowerChanged(inverter.park_id, inverter.spec.id, inverter.power_w, False, now))

    def _count_energy(self, inverter: _Inverter, energy_wh: float | None, now: datetime) -> None:
        day = now.date().isoformat()
        if day != inverter.day:
            inverter.day, inverter.energy_today_wh = day, 0.0
        if energy_wh is None:
            return
        previous = inverter.last_energy_wh
        inverter.last_energy_wh = energy_wh
        if previous is None:
            return
        delta = energy_wh - previous
        if delta < 0:  # the counter was reset: count from its new start
            inverter.counter_resets += 1
            delta = energy_wh
        inverter.energy_today_wh += delta

    async def _set_state(self, inverter: _Inverter, state: str, now: datetime) -> None:
        if state == inverter.state:
            return
        inverter.state = state
        await self.publish(InverterLivenessChanged(inverter.park_id, inverter.spec.id, state, now))
        if state != "online":
            await self.publish(InverterPowerChanged(inverter.park_id, inverter.spec.id, 0.0, True, now))

    async def _reject(self, topic: str, reason: str, payload: bytes, now: datetime) -> None:
        self.rejects[reason] += 1
        self.rejected.append(Rejected(now, topic, reason, payload[:4096]))
        if self.rejects[reason] == 1:
            log.warning("solar: rejected telemetry on %s (%s); further ones are only counted", topic, reason)
        await self.publish(TelemetryRejected(topic, reason, now))

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
                "reason": r.reason,
                "payload": r.payload.decode("utf-8", errors="backslashreplace"),
            }
            for r in reversed(self.rejected)
        ]
