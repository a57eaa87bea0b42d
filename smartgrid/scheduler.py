"""The event-driven control loop around the allocation core.

It keeps the set of charging sessions from charge-point events, recomputes the
allocation when something changes (debounced) and on a periodic tick, sends
only the limits that changed, and publishes each site's allocation. It does no
I/O of its own: sending a limit, publishing an allocation, reading the green
power and the clock are ports handed in.

Fail-safe: when the green power cannot be read (an exception, NaN), it counts
as 0 W, so solar-only sessions fall to 0 A while site limits keep holding.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from chargepoints.events import ChargerDisconnected, MeterSample, TransactionStarted, TransactionStopped
from smartgrid.allocation import SessionDemand, Setpoint, Site, Snapshot, allocate

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChargerSpec:
    site_id: str
    phases: int = 3
    min_current_a: float = 6.0
    max_current_a: float = 16.0


class SendLimit(Protocol):
    async def __call__(
        self, charge_point_id: str, connector_id: int, limit_a: float, transaction_id: int | None
    ) -> None: ...


class PublishAllocation(Protocol):
    async def __call__(self, site_id: str, allocation: dict[str, Any]) -> None: ...


@dataclass(slots=True)
class _Session:
    charge_point_id: str
    connector_id: int
    transaction_id: int
    drawn_current_a: float | None = None
    mode: str = "green"
    priority: int = 0


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    def __init__(
        self,
        *,
        sites: Mapping[str, Site],
        chargers: Mapping[str, ChargerSpec],
        green_power_w: Callable[[], float],
        send_limit: SendLimit,
        publish_allocation: PublishAllocation,
        clock: Callable[[], float],
        debounce_s: float = 0.2,
        tick_s: float = 5.0,
        min_change_a: float = 0.5,
        wall_clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.sites = dict(sites)
        self.chargers = dict(chargers)
        self._green_power_w = green_power_w
        self._send_limit = send_limit
        self._publish_allocation = publish_allocation
        self._clock = clock
        self._wall_clock = wall_clock
        self.debounce_s = debounce_s
        self.tick_s = tick_s
        self.min_change_a = min_change_a
        self._sessions: dict[str, _Session] = {}
        self._sent: dict[str, float] = {}
        self._allocations: dict[str, dict[str, Any]] = {}
        self._trigger = asyncio.Event()
        self.runs = 0
        self.last_run_s = 0.0

    # -- inputs ----------------------------------------------------------------------
    async def on_event(self, event: object) -> None:
        if isinstance(event, TransactionStarted):
            if event.charge_point_id in self.chargers:
                key = f"{event.charge_point_id}/{event.connector_id}"
                self._sessions[key] = _Session(event.charge_point_id, event.connector_id, event.transaction_id)
                self._trigger.set()
        elif isinstance(event, TransactionStopped):
            for key, session in list(self._sessions.items()):
                if session.charge_point_id == event.charge_point_id and session.transaction_id == event.transaction_id:
                    del self._sessions[key]
                    self._sent.pop(key, None)
                    self._trigger.set()
        elif isinstance(event, MeterSample):
            metered = self._sessions.get(f"{event.charge_point_id}/{event.connector_id}")
            if metered is not None and event.current_a is not None:
                changed = metered.drawn_current_a is None or abs(metered.drawn_current_a - event.current_a) >= 1.0
                metered.drawn_current_a = event.current_a
                if changed:
                    self._trigger.set()
        elif isinstance(event, ChargerDisconnected):
            # Its sessions go on (chargers keep charging offline); limits are resent on reconnect.
            for key, session in self._sessions.items():
                if session.charge_point_id == event.charge_point_id:
                    self._sent.pop(key, None)
        else:
            # Solar events (power, liveness) and anything else that may change the green power.
            self._trigger.set()

    def trigger(self) -> None:
        self._trigger.set()

    def set_mode(self, charge_point_id: str, connector_id: int, mode: str, priority: int = 0) -> bool:
        session = self._sessions.get(f"{charge_point_id}/{connector_id}")
        if session is None:
            return False
        session.mode, session.priority = mode, priority
        self._trigger.set()
        return True

    # -- the loop ----------------------------------------------------------------------
    async def run(self) -> None:
        """Recompute on every (debounced) trigger and at least every tick, until cancelled."""
        while True:
            try:
                async with asyncio.timeout(self.tick_s):
                    await self._trigger.wait()
                await asyncio.sleep(self.debounce_s)  # let a burst of events settle
            except TimeoutError:
                pass
            self._trigger.clear()
            await self.run_once()

    def green_power_w(self) -> float:
        try:
            green = float(self._green_power_w())
        except Exception:
            log.warning("scheduler: green power unreadable; counting 0 W", exc_info=True)
            return 0.0
        return green if math.isfinite(green) and green > 0 else 0.0

    def snapshot(self) -> Snapshot:
        demands = []
        for key, session in sorted(self._sessions.items()):
            spec = self.chargers[session.charge_point_id]
            demands.append(
                SessionDemand(
                    key=key,
                    charge_point_id=session.charge_point_id,
                    connector_id=session.connector_id,
                    site_id=spec.site_id,
                    phases=spec.phases,
                    min_current_a=spec.min_current_a,
                    max_current_a=spec.max_current_a,
                    drawn_current_a=session.drawn_current_a,
                    mode=session.mode,
                    priority=session.priority,
                )
            )
        return Snapshot(self.green_power_w(), self.sites, demands)

    async def run_once(self) -> dict[str, Setpoint]:
        started = self._clock()
        snapshot = self.snapshot()
        setpoints = allocate(snapshot)
        sends = [self._send(key, point) for key, point in setpoints.items() if self._changed(key, point.limit_a)]
        if sends:
            await asyncio.gather(*sends)
        await self._publish(snapshot, setpoints)
        self.runs += 1
        self.last_run_s = self._clock() - started
        return setpoints

    def _changed(self, key: str, limit_a: float) -> bool:
        sent = self._sent.get(key)
        if sent is None:
            return True
        if (sent == 0) != (limit_a == 0):
            return True
        return abs(sent - limit_a) >= self.min_change_a

    async def _send(self, key: str, point: Setpoint) -> None:
        session = self._sessions.get(key)
        transaction_id = session.transaction_id if session else None
        try:
            await self._send_limit(point.charge_point_id, point.connector_id, point.limit_a, transaction_id)
        except Exception as exc:
            log.warning("scheduler: limit %.1f A for %s not applied (%s); retrying next run", point.limit_a, key, exc)
            self._sent.pop(key, None)
            return
        self._sent[key] = point.limit_a

    async def _publish(self, snapshot: Snapshot, setpoints: dict[str, Setpoint]) -> None:
        ts = self._wall_clock().isoformat()
        for site_id in self.sites:
            points = [p for p in setpoints.values() if p.site_id == site_id]
            allocation = {
                "site_id": site_id,
                "ts": ts,
                "green_power_w": round(snapshot.green_power_w, 1),
                "green_w": round(sum(p.green_w for p in points), 1),
                "grid_w": round(sum(p.grid_w for p in points), 1),
                "setpoints": [
                    {
                        "charge_point_id": p.charge_point_id,
                        "connector_id": p.connector_id,
                        "limit_a": round(p.limit_a, 2),
                        "phases": p.phases,
                        "power_w": p.power_w,
                        "green_w": p.green_w,
                        "grid_w": p.grid_w,
                    }
                    for p in points
                ],
            }
            previous = self._allocations.get(site_id)
            self._allocations[site_id] = allocation
            if previous is None or {k: v for k, v in previous.items() if k != "ts"} != {
                k: v for k, v in allocation.items() if k != "ts"
            }:
                try:
                    await self._publish_allocation(site_id, allocation)
                except Exception as exc:
                    log.warning("scheduler: allocation of %s not published (%s)", site_id, exc)

    def allocation(self, site_id: str) -> dict[str, Any] | None:
        return self._allocations.get(site_id)
