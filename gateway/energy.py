"""Energy into SQL: the one-minute intervals (solar per inverter, green per park) and each session's green.

`EnergyIntervals` follows the charge-point events (meter samples and transactions feed the green
ledger, which says how much of each sample was green) and the solar ingest's drained minutes, and
stores them. Only the instance that runs the scheduler writes (every instance sees all telemetry, so
the others would count it twice); a write that fails is kept and added to the next one. The others
follow the baselines the writer stores: when they change, a follower counts again from them
(replaying the readings since), so that, taking over, it adds exactly what the previous writer had not
stored. A session's green energy is stored with the next flush after it stops, never inside event
delivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from chargepoints.events import MeterSample, TransactionStarted, TransactionStopped
from chargepoints.ports import TransactionRecord
from gateway.storage import Store
from smartgrid.ledger import GreenLedger, split_interval
from solar.accounting import Baseline, minute_of
from solar.ingest import SolarIngest

log = logging.getLogger(__name__)


class EnergyIntervals:
    def __init__(
        self,
        store: Store,
        solar: SolarIngest,
        ledger: GreenLedger,
        *,
        members: dict[str, str],  # park id -> member id
        clock: Callable[[], datetime],
        solar_power_w: Callable[[], float],
        clustered: bool,
        leading: Callable[[], bool],
    ) -> None:
        self.store = store
        self.solar = solar
        self.ledger = ledger
        self.members = members
        self.clock = clock
        self.solar_power_w = solar_power_w
        self.clustered = clustered
        self._leading = leading
        self.writer = not clustered  # this instance stores the intervals (SQLite: always; else the leader)
        self._ev_minutes: dict[datetime, float] = {}  # EV energy per minute, until the minute closes
        self._park_minutes: dict[tuple[str, datetime], float] = {}  # generation per park, recent minutes
        self._solar_unflushed: dict[tuple[str, datetime], float] = {}
        self._green_unflushed: list[tuple[str, datetime, float, float]] = []
        self._sessions_unflushed: dict[int, float] = {}  # transaction id -> green Wh, stopped, not yet stored
        self._baselines_seen: dict[str, tuple[datetime, float | None, float | None]] = {}  # as last stored
        self._lock = asyncio.Lock()  # one flush at a time: minutes and baselines stored in order

    async def restore(self) -> None:
        """Count on from the baselines stored last."""
        baselines = await self.store.load_solar_baselines()
        self.solar.minutes.restore(baselines)
        self._baselines_seen = _marks(baselines)

    # -- events -------------------------------------------------------------------------
    async def on_event(self, event: object) -> None:
        if isinstance(event, MeterSample):
            added = self.ledger.meter(event.transaction_id, event.energy_wh, event.power_w, self.solar_power_w())
            if added > 0:
                minute = minute_of(self.clock())
                self._ev_minutes[minute] = self._ev_minutes.get(minute, 0.0) + added
        elif isinstance(event, TransactionStarted):
            self.ledger.start(event.transaction_id, event.charge_point_id, event.connector_id, event.meter_start_wh)
        elif isinstance(event, TransactionStopped):
            green = self.ledger.stop(event.transaction_id, event.meter_stop_wh, self.solar_power_w())
            if green is not None:
                self._sessions_unflushed[event.transaction_id] = green

    def green_energy_wh(self, record: TransactionRecord) -> float:
        """A session's green energy: live while it charges, then as stored (or about to be)."""
        live = self.ledger.green_wh(record.id)
        if live is None:
            live = self._sessions_unflushed.get(record.id)
        green = live if live is not None else (record.green_energy_wh or 0.0)
        return min(green, record.energy_wh)

    # -- flushing ---------------------------------------------------------------------
    async def flush(self, *, final: bool = False) -> None:
        """Store the drained solar minutes with their baselines, the green split of closed minutes, and the
        green energy of stopped sessions."""
        async with self._lock:
            await self._flush_sessions()
            await self._flush(final)

    async def _flush_sessions(self) -> None:
        pending, self._sessions_unflushed = self._sessions_unflushed, {}
        for transaction_id, green in pending.items():
            try:
                await self.store.set_green_energy(transaction_id, green)
            except Exception:
                self._sessions_unflushed.setdefault(transaction_id, green)
                raise

    async def _flush(self, final: bool) -> None:
        writing = not self.clustered or self._leading()
        if self.clustered and not (writing and self.writer):
            stored = await self.store.load_solar_baselines()
            if _marks(stored) != self._baselines_seen:  # the writer stored more: count on from there
                self.solar.minutes.follow(stored)
                self._solar_unflushed.clear()
                self._baselines_seen = _marks(stored)
        self.writer = writing
        drained = self.solar.minutes.drain()
        for key, wh in drained.items():
            self._solar_unflushed[key] = self._solar_unflushed.get(key, 0.0) + wh
            park_minute = (key[0].partition("/")[0], key[1])
            self._park_minutes[park_minute] = self._park_minutes.get(park_minute, 0.0) + wh
        now_minute = minute_of(self.clock())
        closed = [m for m in self._ev_minutes if final or m < now_minute - timedelta(minutes=1)]
        for minute in sorted(closed):
            ev_wh = self._ev_minutes.pop(minute)
            generated = {park: wh for (park, m), wh in self._park_minutes.items() if m == minute}
            split = split_interval({"ev": ev_wh}, generated, self.members)
            self._green_unflushed += [(park, minute, wh, ev_wh) for park, wh in split.park_wh.items() if wh > 0]
        for key in [k for k in self._park_minutes if k[1] < now_minute - timedelta(minutes=10)]:
            del self._park_minutes[key]
        if not writing:
            self._green_unflushed.clear()
            return
        if not self._solar_unflushed and not self._green_unflushed:
            return
        solar, green = self._solar_unflushed, self._green_unflushed
        self._solar_unflushed, self._green_unflushed = {}, []
        baselines = self.solar.minutes.baselines()
        try:
            await self.store.add_energy_minutes(solar, baselines, green)
        except Exception:
            log.warning("energy intervals not stored (database unavailable?); kept for the next try", exc_info=True)
            for key, wh in solar.items():
                self._solar_unflushed[key] = self._solar_unflushed.get(key, 0.0) + wh
            self._green_unflushed = green + self._green_unflushed
        else:
            self._baselines_seen = _marks(baselines)
            self.solar.minutes.trim(baselines)


def _marks(baselines: dict[str, Baseline]) -> dict[str, tuple[datetime, float | None, float | None]]:
    return {key: (b.ts, b.energy_wh, b.power_w) for key, b in baselines.items()}


__all__ = ["EnergyIntervals"]
