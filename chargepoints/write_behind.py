"""Part of CentralSystem: what is written behind (charger records from boots, the latest meter register of
each transaction), stored once a second in one write each, kept across a failed flush."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from chargepoints.ports import ChargePointRepository, ChargerRecord
from chargepoints.registration import ACCEPTED
from chargepoints.state import ChargerState

log = logging.getLogger("chargepoints.central")


class WriteBehind:
    _repo: ChargePointRepository
    _meter_backlog: dict[int, float]
    _records: dict[str, ChargerRecord]
    _records_complete: bool
    _dirty_chargers: set[str]
    flush_failures: int

    state: Callable[[str], ChargerState]  # CentralSystem's

    _call_back_in: Callable[[str], None]  # CentralSystem's

    def unflushed_register(self, transaction_id: int) -> float | None:
        """The newest energy register of a transaction not yet stored (write-behind)."""
        return self._meter_backlog.get(transaction_id)

    async def flush_meters(self) -> None:
        """Store the latest meter register of every transaction metered since the last flush."""
        if not self._meter_backlog:
            return
        backlog, self._meter_backlog = self._meter_backlog, {}
        try:
            await self._repo.record_meters(backlog)
        except BaseException:
            # kept for the next flush; a register taken in the meantime is newer and wins
            self._meter_backlog = {**backlog, **self._meter_backlog}
            raise

    def load_records(self, records: list[ChargerRecord]) -> None:
        """Take every stored charger record (read in one query), so boots need no database read."""
        for record in records:
            if record.id not in self._dirty_chargers:
                self._records[record.id] = record
            state = self.state(record.id)
            was = state.registration
            state.registration = self._records[record.id].registration
            state.site_id = self._records[record.id].site_id
            if was != ACCEPTED and state.registration == ACCEPTED:  # accepted through another instance
                self._call_back_in(record.id)
        self._records_complete = True

    async def flush(self) -> None:
        """Store what is written behind: charger records from boots, then meter registers."""
        try:
            if self._dirty_chargers:
                dirty, self._dirty_chargers = self._dirty_chargers, set()
                try:
                    await self._repo.save_chargers([self._records[i] for i in sorted(dirty)])
                except BaseException:
                    self._dirty_chargers |= dirty  # kept for the next flush
                    raise
        finally:  # the registers too: a repository may keep them (journaled) while charger records wait
            await self.flush_meters()

    async def run(self, flush_interval_s: float = 1.0, max_backoff_s: float = 5.0) -> None:
        """Long-running: flush what is written behind; a last flush when cancelled.

        A flush that fails (the database restarting) keeps everything it held;
        the next try comes after an exponential backoff up to `max_backoff_s`.
        """
        delay = flush_interval_s
        try:
            while True:
                await asyncio.sleep(delay)
                try:
                    await self.flush()
                except Exception as exc:
                    delay = min(max(delay, flush_interval_s) * 2, max_backoff_s)
                    self.flush_failures += 1
                    log.warning("write-behind not stored (%s); kept, retrying in %.1fs", exc, delay)
                else:
                    delay = flush_interval_s
        finally:
            try:
                await asyncio.shield(self.flush())
            except Exception as exc:
                log.error("write-behind lost at shutdown: %s", exc)
