"""Energy into SQL: the one-minute intervals (solar per inverter, green per park) and each session's green.

`EnergyIntervals` feeds the one green accounting (`smartgrid.ledger.GreenAccounting`) with the
charge-point events (transactions and meter samples, at the time they were measured) and the solar
ingest's drained minutes, closes the minutes that are over by the platform's clock, and stores what it
closed: generation per inverter, green per park and minute, each finished session's green.
Only the instance that runs the scheduler writes (every instance sees all telemetry, so
the others would count it twice); a write that fails is kept and added to the next one. The others
follow the baselines the writer stores: when they change, a follower counts again from them
(replaying the readings since), so that, taking over, it adds exactly what the previous writer had not
stored. A session's green energy is stored with the next flush after it stops, never inside event
delivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from chargepoints.events import ChargerDisconnected, MeterSample, TransactionStarted, TransactionStopped
from chargepoints.ports import TransactionRecord
from gateway.storage import Store
from smartgrid.ledger import GreenAccounting
from solar.accounting import Baseline, EnergyMinutes
from solar.ingest import SolarIngest

log = logging.getLogger(__name__)

FUTURE = timedelta(minutes=5)  # a reading stamped later than this ahead of the platform's clock is stamped now


class EnergyIntervals:
    # the events on_event handles: the event hub hands it no other
    event_types: tuple[type, ...] = (MeterSample, TransactionStarted, TransactionStopped, ChargerDisconnected)

    def __init__(
        self,
        store: Store,
        solar: SolarIngest,
        ledger: GreenAccounting,
        *,
        clock: Callable[[], datetime],
        pool_of: Callable[[str], str],  # charge point id -> its pool (the cooperative of its site)
        clustered: bool,
        leading: Callable[[], bool],
        journaled: Callable[[int], bool] = lambda transaction_id: False,
        finished: Callable[[int], Awaitable[object]] | None = None,
        batteries: EnergyMinutes | None = None,  # the stationary batteries' charge and discharge per minute
    ) -> None:
        self._batteries = batteries
        self._finished = finished  # told of each session whose energy and green are stored for good
        self.store = store
        self._journaled = journaled  # a transaction answered while the database was away, not yet stored
        self.solar = solar
        self.ledger = ledger
        self.clock = clock
        self.pool_of = pool_of
        self.clustered = clustered
        self._leading = leading
        self.writer = not clustered  # this instance stores the intervals (SQLite: always; else the leader)
        self._solar_unflushed: dict[tuple[str, datetime], float] = {}
        self._green_unflushed: list[tuple[str, datetime, float, float]] = []
        self._sessions_unflushed: dict[int, float] = {}  # transaction id -> green Wh, stopped, not yet stored
        self._slots_unflushed: dict[int, list[tuple[datetime, float, float]]] = {}  # and its energy per slot
        self._parks_unflushed: dict[int, dict[str, float]] = {}  # and its green by park
        self._baselines_seen: dict[str, tuple[datetime, float | None, float | None]] = {}  # as last stored
        self._lock = asyncio.Lock()  # one flush at a time: minutes and baselines stored in order
        self._stocks_stored: dict[str, dict[str, float]] = {}  # the batteries' stocks as last stored

    async def restore(self) -> None:
        """Count on from the baselines stored last."""
        baselines = await self.store.energy.load_baselines()
        self.solar.minutes.restore(baselines)
        self._baselines_seen = _marks(baselines)
        self.ledger.restore_stocks(await self.store.energy.load_stocks())
        await self._restore_today()

    async def _restore_today(self) -> None:
        """Today's generation and green energy into EVs as stored, so that "today" survives a restart (of the
        EV energy before it, only the green part is stored: the rest of it is not counted again)."""
        now = self.clock()
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        parks = list(self.ledger.park_pool)
        if not parks:
            return
        stored = await self.store.energy.by_park(parks, start, start + timedelta(days=1))
        for park, (generated, green) in stored.items():
            if generated or green:
                pool = self.ledger.park_pool[park]
                self.ledger.seed_day(start.date(), pool, {park: generated}, {park: green}, green)

    # -- events -------------------------------------------------------------------------
    def _measured(self, ts: datetime) -> datetime:
        """When a reading was measured: the charger's time, unless it lies ahead of the platform's clock by
        more than FUTURE (a charger whose clock runs ahead): then now."""
        now = self.clock()
        return ts if ts <= now + FUTURE else now

    def on_event(self, event: object) -> None:
        if isinstance(event, MeterSample):
            if event.transaction_id is not None:
                ts = self._measured(event.ts)
                self.ledger.meter(event.transaction_id, ts, event.energy_wh, event.power_w)
        elif isinstance(event, TransactionStarted):
            pool = self.pool_of(event.charge_point_id)
            ts = self._measured(event.ts)
            self.ledger.start(event.transaction_id, event.charge_point_id, ts, event.meter_start_wh, pool)
        elif isinstance(event, TransactionStopped):
            self.ledger.stop(event.transaction_id, self._measured(event.ts), event.meter_stop_wh)
        elif isinstance(event, ChargerDisconnected):
            self.ledger.offline(event.charge_point_id)

    def green_energy_wh(self, record: TransactionRecord) -> float:
        """A session's green energy (closed minutes): while the accounting follows it, then as stored."""
        live = self.ledger.session_green_wh(record.id)
        if live is None:
            live = self._sessions_unflushed.get(record.id)
        green = live if live is not None else (record.green_energy_wh or 0.0)
        energy = self.ledger.session_energy_wh(record.id)
        return min(green, max(record.energy_wh, energy or 0.0))

    def green_by_park_wh(
        self, records: list[TransactionRecord], stored: dict[int, dict[str, float]]
    ) -> dict[str, float]:
        """The sessions' green energy by park: while the accounting follows them, then as `stored`."""
        total: dict[str, float] = {}
        for record in records:
            parks = self.ledger.session_parks(record.id)
            if parks is None:
                parks = self._parks_unflushed.get(record.id) or stored.get(record.id, {})
            for park, wh in parks.items():
                total[park] = total.get(park, 0.0) + wh
        return total

    def energy_source(self, record: TransactionRecord) -> str:
        """ "register" (the charger's energy register) or "power" (integrated: the charger reports none)."""
        return self.ledger.session_source(record.id) or "register"

    # -- flushing ---------------------------------------------------------------------
    async def flush(self, *, final: bool = False) -> None:
        """Store the drained solar minutes with their baselines, the green split of closed minutes, and the
        green energy of stopped sessions."""
        async with self._lock:
            await self._flush(final)
            await self._flush_sessions()

    async def _flush_sessions(self) -> None:
        pending, self._sessions_unflushed = self._sessions_unflushed, {}
        for transaction_id, green in pending.items():
            try:
                stored = await self.store.set_green_energy(transaction_id, green)
                if not stored and self._journaled(transaction_id):
                    self._sessions_unflushed.setdefault(transaction_id, green)  # once its row is written
                elif not stored:
                    self._slots_unflushed.pop(transaction_id, None)
                    self._parks_unflushed.pop(transaction_id, None)
                elif stored and transaction_id in self._slots_unflushed:
                    await self.store.accounts.put_session_slots(
                        transaction_id, self._slots_unflushed[transaction_id], self._parks_unflushed.get(transaction_id)
                    )
                    del self._slots_unflushed[transaction_id]
                    self._parks_unflushed.pop(transaction_id, None)
                    if self._finished is not None:
                        await self._finished(transaction_id)
            except Exception:
                self._sessions_unflushed.setdefault(transaction_id, green)
                raise

    async def _flush(self, final: bool) -> None:
        writing = not self.clustered or self._leading()
        if self.clustered and not (writing and self.writer):
            stored = await self.store.energy.load_baselines()
            if _marks(stored) != self._baselines_seen:  # the writer stored more: count on from there
                self.solar.minutes.follow(stored)
                # what it had drained and not stored comes again from the replay: counted once
                self.ledger.retract_generation(_per_park(self._solar_unflushed))
                self._solar_unflushed.clear()
                self._baselines_seen = _marks(stored)
        self.writer = writing
        drained = self.solar.minutes.drain()
        for key, wh in drained.items():
            self._solar_unflushed[key] = self._solar_unflushed.get(key, 0.0) + wh
        self.ledger.generation(_per_park(drained))
        if self._batteries is not None:
            self.ledger.battery(self._batteries.drain())
        closed = self.ledger.close(self.clock(), final=final)
        self._green_unflushed += [(m.park_id, m.minute, m.green_wh, m.ev_wh) for m in closed]
        for transaction_id, session_green in self.ledger.finished().items():
            if isinstance(transaction_id, int):
                self._sessions_unflushed[transaction_id] = session_green
                self._slots_unflushed[transaction_id] = self.ledger.finished_slots.pop(transaction_id, [])
                self._parks_unflushed[transaction_id] = self.ledger.finished_parks.pop(transaction_id, {})
        self.ledger.finished_slots.clear()
        self.ledger.finished_parks.clear()
        if not writing:
            self._green_unflushed.clear()
            return
        stocks = self.ledger.stock_rows()
        if not self._solar_unflushed and not self._green_unflushed and stocks == self._stocks_stored:
            return
        solar, green = self._solar_unflushed, self._green_unflushed
        self._solar_unflushed, self._green_unflushed = {}, []
        baselines = self.solar.minutes.baselines()
        try:
            await self.store.energy.add_minutes(solar, baselines, green, stocks)
        except Exception:
            log.warning("energy intervals not stored (database unavailable?); kept for the next try", exc_info=True)
            for key, wh in solar.items():
                self._solar_unflushed[key] = self._solar_unflushed.get(key, 0.0) + wh
            self._green_unflushed = green + self._green_unflushed
        else:
            self._baselines_seen = _marks(baselines)
            self._stocks_stored = stocks
            self.solar.minutes.trim(baselines)


def _per_park(drained: dict[tuple[str, datetime], float]) -> dict[tuple[str, datetime], float]:
    parks: dict[tuple[str, datetime], float] = {}
    for (key, minute), wh in drained.items():
        park = (key.partition("/")[0], minute)
        parks[park] = parks.get(park, 0.0) + wh
    return parks


def _marks(baselines: dict[str, Baseline]) -> dict[str, tuple[datetime, float | None, float | None]]:
    return {key: (b.ts, b.energy_wh, b.power_w) for key, b in baselines.items()}


__all__ = ["EnergyIntervals"]
