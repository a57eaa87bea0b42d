"""Transactions that outlive a database outage: answered at once, journaled on local disk, stored when it is back.

While the database answers, `JournaledRepository` is the store itself. When a write of a transaction fails
because the database is away (refused, reset, shut down), the repository turns *degraded*:

- StartTransaction and TransactionEvent(Started) get a transaction id reserved from the database's own
  counter beforehand (`reserve_transaction_ids`), so no round trip is needed and no id can collide with
  one the database hands out later or to another instance;
- every start, stop, sequence number and written-behind meter register is appended to this instance's
  journal, a JSON-lines file flushed to disk (fsync) before the charger gets its answer;
- the transactions running at the outage are known from memory (read at start and kept since), so stops
  and meter values of theirs are checked against their owner as usual; id tags are answered from what was
  last read (every tag is read once at start).

Once the database answers again, the journal is written to it in order (each step idempotent: a start by
its reserved id or its identical twin, a stop already stored changes nothing) and emptied; only then does
the repository leave the degraded state. A process killed while degraded leaves its journal behind: the
next start of any instance using the same journal directory writes it (a journal is locked by the process
that writes it, so a living instance's journal is never taken).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from chargepoints.ports import ChargePointRepository, ChargerRecord, IdTagStatus, TransactionRecord
from gateway.db_probe import DatabaseProbe
from gateway.journal_file import JournalFile, RegisterLog, decode, encode, orphaned

log = logging.getLogger(__name__)
__all__ = ["JournalFile", "JournaledRepository", "RegisterLog", "apply", "decode", "encode", "is_outage", "orphaned"]


T = TypeVar("T")


class _Away:
    """What `JournaledRepository._direct` answers when the database is away."""


AWAY = _Away()


class DatabaseAway(RuntimeError):
    """The database is away and this cannot be answered from memory (no reserved id left, an unknown
    transaction): the charger gets an InternalError and retries, as it would without a journal."""


def is_outage(error: BaseException) -> bool:
    """True when `error` says the database cannot be reached (not that a statement is wrong)."""
    if isinstance(error, (OSError, TimeoutError, PoolTimeout)):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated or isinstance(error, (OperationalError, InterfaceError)):
            return True
        cause = error.orig
        return (
            isinstance(cause, OSError)
            or "Connection" in type(cause).__name__
            or "CannotConnect" in type(cause).__name__
        )
    return False


class TransactionStore(ChargePointRepository, Protocol):
    """What the journal needs of gateway.storage.Store: the port, with ids given on a start, registers that
    never go lower, and what it reads at start."""

    async def start_transaction(
        self,
        charge_point_id: str,
        connector_id: int,
        id_tag: str,
        meter_start_wh: float,
        ts: datetime,
        *,
        transaction_id: int | None = None,
    ) -> tuple[TransactionRecord, bool]: ...
    async def start_transaction_201(
        self,
        charge_point_id: str,
        evse_id: int,
        ocpp_transaction_id: str,
        id_tag: str,
        meter_start_wh: float,
        ts: datetime,
        *,
        transaction_id: int | None = None,
    ) -> tuple[TransactionRecord, bool]: ...
    async def record_meters(self, registers: dict[int, float], *, only_higher: bool = False) -> None: ...
    def cached_id_tag(self, id_tag: str, now: datetime) -> IdTagStatus | None: ...
    async def warm_id_tags(self) -> int: ...
    async def reserve_transaction_ids(self, count: int) -> list[int]: ...
    async def list_transactions(self, *, active: bool | None = None, limit: int = 100) -> list[TransactionRecord]: ...


# -- writing a journal to the database ---------------------------------------------------------------------
async def apply(store: TransactionStore, entries: list[dict[str, Any]], renamed: dict[int, int]) -> None:
    """Write journal entries to the database, in order. `renamed`: a journaled start the database already
    held under another id (the charger resent a start it had been answered before the outage)."""
    for entry in entries:
        op = entry["op"]
        if op == "start":
            ts = datetime.fromisoformat(entry["ts"])
            if entry.get("ocpp_id") is not None:
                record, _ = await store.start_transaction_201(
                    entry["cp"], entry["connector"], entry["ocpp_id"], entry["id_tag"], entry["meter_start_wh"], ts,
                    transaction_id=entry["id"],
                )  # fmt: skip
            else:
                record, _ = await store.start_transaction(
                    entry["cp"], entry["connector"], entry["id_tag"], entry["meter_start_wh"], ts,
                    transaction_id=entry["id"],
                )  # fmt: skip
            if record.id != entry["id"]:
                renamed[entry["id"]] = record.id
        elif op == "stop":
            transaction_id = renamed.get(entry["id"], entry["id"])
            ts = datetime.fromisoformat(entry["ts"])
            await store.stop_transaction(entry["cp"], transaction_id, entry["meter_stop_wh"], ts, entry["reason"])
        elif op == "meters":
            registers = {renamed.get(int(k), int(k)): float(v) for k, v in entry["registers"].items()}
            await store.record_meters(registers, only_higher=True)  # newer ones may be stored by now
        elif op == "seq":
            await store.set_seq_no(renamed.get(entry["id"], entry["id"]), entry["seq"])


class JournaledRepository:
    """chargepoints.ports.ChargePointRepository over the store, answering transactions while it is away."""

    def __init__(self, store: TransactionStore, directory: Path, instance_id: str, *, reserve: int = 1000) -> None:
        self.store = store
        self.directory = directory
        self.instance_id = instance_id
        self.reserve = reserve
        self.degraded = False
        self.outages = 0  # times the database went away
        self.journaled_total = 0
        self._file: JournalFile | None = None
        self._registers: RegisterLog | None = None
        self._entries = 0  # in the journal, not yet written to the database
        self._ids: list[int] = []  # reserved, highest first (taken from the end)
        self._known: dict[int, TransactionRecord] = {}  # running (and stopped while degraded), by id
        self._by_ocpp: dict[tuple[str, str], int] = {}
        self._by_start: dict[tuple[str, int, datetime, float], int] = {}
        self._journaled: set[int] = set()  # started while degraded, not yet stored
        self._draining = asyncio.Lock()
        self._reserving = asyncio.Lock()  # one reservation at a time once the reserved ids ran out
        self._probe = DatabaseProbe(getattr(store, "engine", None), is_outage)
        self.busy_retries = 0  # calls tried again: no pooled connection in time, the database answering
        # an id tag the store answers Invalid may be authorized by someone else (an OCPI partner, in real time)
        self.remote_authorization: Callable[[str], Awaitable[IdTagStatus | None]] | None = None

    # -- life ----------------------------------------------------------------------------------------------
    async def open(self) -> int:
        """Write what killed processes left behind, reserve ids, read id tags and running transactions.
        Returns how many journaled entries were written."""
        written = 0
        with orphaned(self.directory) as journals:
            for path, entries in journals:
                log.warning("writing %d entries of %s, left by a process that stopped", len(entries), path.name)
                await apply(self.store, entries, {})
                written += len(entries)
        self._file = JournalFile(self.directory / f"{self.instance_id}.jsonl")
        self._registers = RegisterLog(self.directory, self.instance_id)
        await self.store.warm_id_tags()
        for record in await self.store.list_transactions(active=True, limit=1_000_000):
            self._remember(record)
        await self._refill()
        return written

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._registers is not None:
            self._registers.close()
            self._registers = None

    def log_register(self, transaction_id: int, energy_wh: float) -> None:
        """A register answered and written behind (CentralSystem's register_log)."""
        if self._registers is not None:
            self._registers.write(transaction_id, energy_wh)

    @property
    def pending(self) -> int:
        """Journaled entries not yet in the database."""
        return self._entries

    @property
    def reserved_ids(self) -> int:
        return len(self._ids)

    def journaled(self, transaction_id: int) -> bool:
        """True for a transaction started while the database was away and not stored yet."""
        return transaction_id in self._journaled

    async def _refill(self) -> None:
        if len(self._ids) < self.reserve // 2:
            fresh = await self.store.reserve_transaction_ids(self.reserve - len(self._ids))
            self._ids = sorted(set(self._ids) | set(fresh), reverse=True)

    async def drain(self) -> bool:
        """Write the journal to the database if it answers; True when nothing is left."""
        async with self._draining:
            if not self.degraded:
                return True
            assert self._file is not None
            renamed: dict[int, int] = {}
            done = 0
            try:
                while True:
                    entries = self._file.read()
                    if len(entries) <= done:
                        break
                    await apply(self.store, entries[done:], renamed)
                    done = len(entries)
                await self._refill()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                return False
            # nothing awaited from the last read to here: no entry can have been appended unseen
            self._file.clear()
            self._entries = 0
            self._journaled.clear()
            self._known = {i: r for i, r in self._known.items() if r.stop_ts is None}
            self._by_start.clear()
            self.degraded = False
            log.warning("database back: %d journaled entries written", done)
            return True

    async def run(self, interval_s: float = 1.0) -> None:
        """Long-running: while degraded, try to write the journal every `interval_s`."""
        while True:
            await asyncio.sleep(interval_s)
            if self.degraded:
                try:
                    await self.drain()
                except Exception:
                    log.exception("journal not written")

    # -- the degraded state -----------------------------------------------------------------------------
    async def _direct(self, call: Callable[[], Awaitable[T]]) -> T | _Away:
        """`call` on the database while it answers; AWAY (and degraded from now on) when it is away."""
        if self.degraded:
            return AWAY
        while True:
            try:
                return await call()
            except PoolTimeout as exc:
                if not await self._probe.answers():
                    self._away(exc)
                    return AWAY
                self.busy_retries += 1
                if self.busy_retries == 1 or self.busy_retries % 1000 == 0:
                    log.warning("no database connection free in time, the database answering: tried again (%s)", exc)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self._away(exc)
                return AWAY

    def _away(self, error: BaseException) -> None:
        if not self.degraded:
            self.degraded = True
            self.outages += 1
            log.error("database away (%s): transactions are journaled in %s until it is back", error, self.directory)

    def _append(self, entry: dict[str, Any], *, sync: bool = True) -> None:
        assert self._file is not None, "open() first"
        self._file.append(entry, sync=sync)
        self._entries += 1
        self.journaled_total += 1

    def _remember(self, record: TransactionRecord) -> None:
        self._known[record.id] = record
        if record.ocpp_transaction_id is not None:
            self._by_ocpp[(record.charge_point_id, record.ocpp_transaction_id)] = record.id
        if record.stop_ts is not None and not self.degraded:
            self._forget(record.id)

    def _forget(self, transaction_id: int) -> None:
        record = self._known.pop(transaction_id, None)
        if record is not None and record.ocpp_transaction_id is not None:
            self._by_ocpp.pop((record.charge_point_id, record.ocpp_transaction_id), None)

    async def _take_id(self) -> int:
        """A reserved id. Once every one is used, more are asked for straight away: degraded may mean only
        that this process was too busy to get a connection in time (a reconnect storm), and the database
        may still hand them out; DatabaseAway when it does not."""
        if not self._ids:
            async with self._reserving:
                if not self._ids:
                    try:
                        fresh = await self.store.reserve_transaction_ids(self.reserve)
                    except Exception as exc:
                        if not is_outage(exc):
                            raise
                        raise DatabaseAway("the database is away and every reserved transaction id is used") from None
                    self._ids = sorted(set(self._ids) | set(fresh), reverse=True)
                    log.warning("every reserved transaction id used while degraded: %d more reserved", len(fresh))
        return self._ids.pop()

    # -- chargers: straight through ------------------------------------------------------------------------
    async def get_charger(self, charge_point_id: str) -> ChargerRecord | None:
        return await self.store.get_charger(charge_point_id)

    async def save_charger(self, record: ChargerRecord) -> None:
        await self.store.save_charger(record)

    async def save_chargers(self, records: list[ChargerRecord]) -> None:
        await self.store.save_chargers(records)

    async def save_variables(
        self, charge_point_id: str, variables: list[tuple[str, str, str, str | None, str | None]]
    ) -> None:
        await self.store.save_variables(charge_point_id, variables)

    async def list_variables(self, charge_point_id: str) -> list[dict[str, Any]]:
        return await self.store.list_variables(charge_point_id)

    async def id_tag(self, id_tag: str, now: datetime) -> IdTagStatus:
        status = await self._id_tag(id_tag, now)
        if status.status == "Invalid" and self.remote_authorization is not None:
            return await self.remote_authorization(id_tag) or status
        return status

    async def _id_tag(self, id_tag: str, now: datetime) -> IdTagStatus:
        try:
            return await self.store.id_tag(id_tag, now)
        except Exception as exc:
            if not is_outage(exc):
                raise
            cached = self.store.cached_id_tag(id_tag, now)
            if cached is None:
                log.warning("database away: id tag %r was never read; answered as unknown", id_tag[:20])
                return IdTagStatus("Invalid", known=False)
            return cached

    # -- transactions ----------------------------------------------------------------------------------------
    async def start_transaction(
        self, charge_point_id: str, connector_id: int, id_tag: str, meter_start_wh: float, ts: datetime
    ) -> tuple[TransactionRecord, bool]:
        stored = await self._direct(
            lambda: self.store.start_transaction(charge_point_id, connector_id, id_tag, meter_start_wh, ts)
        )
        if not isinstance(stored, _Away):
            self._remember(stored[0])
            return stored
        key = (charge_point_id, connector_id, ts, meter_start_wh)
        if key in self._by_start:  # resent while degraded
            return replace(self._known[self._by_start[key]]), False
        transaction_id = await self._take_id()
        if key in self._by_start:  # resent while ids were being reserved
            self._ids.append(transaction_id)
            return replace(self._known[self._by_start[key]]), False
        record = TransactionRecord(transaction_id, charge_point_id, connector_id, id_tag, meter_start_wh, ts)
        self._append({
            "op": "start", "id": record.id, "cp": charge_point_id, "connector": connector_id, "id_tag": id_tag,
            "meter_start_wh": meter_start_wh, "ts": ts.isoformat(), "ocpp_id": None,
        })  # fmt: skip
        self._by_start[key] = record.id
        self._journaled.add(record.id)
        self._remember(record)
        return replace(record), True

    async def start_transaction_201(
        self,
        charge_point_id: str,
        evse_id: int,
        ocpp_transaction_id: str,
        id_tag: str,
        meter_start_wh: float,
        ts: datetime,
    ) -> tuple[TransactionRecord, bool]:
        stored = await self._direct(
            lambda: self.store.start_transaction_201(
                charge_point_id, evse_id, ocpp_transaction_id, id_tag, meter_start_wh, ts
            )
        )
        if not isinstance(stored, _Away):
            self._remember(stored[0])
            return stored
        known = self._by_ocpp.get((charge_point_id, ocpp_transaction_id))
        if known is not None:
            return replace(self._known[known]), False
        transaction_id = await self._take_id()
        known = self._by_ocpp.get((charge_point_id, ocpp_transaction_id))
        if known is not None:  # resent while ids were being reserved
            self._ids.append(transaction_id)
            return replace(self._known[known]), False
        record = TransactionRecord(
            transaction_id, charge_point_id, evse_id, id_tag, meter_start_wh, ts,
            ocpp_transaction_id=ocpp_transaction_id,
        )  # fmt: skip
        self._append({
            "op": "start", "id": record.id, "cp": charge_point_id, "connector": evse_id, "id_tag": id_tag,
            "meter_start_wh": meter_start_wh, "ts": ts.isoformat(), "ocpp_id": ocpp_transaction_id,
        })  # fmt: skip
        self._journaled.add(record.id)
        self._remember(record)
        return replace(record), True

    async def find_transaction_201(self, charge_point_id: str, ocpp_transaction_id: str) -> TransactionRecord | None:
        found = await self._direct(lambda: self.store.find_transaction_201(charge_point_id, ocpp_transaction_id))
        if not isinstance(found, _Away):
            return found
        known = self._by_ocpp.get((charge_point_id, ocpp_transaction_id))
        # every running transaction is known here: one that is not is new (or ended long ago, and then its
        # journaled start is matched to the stored one when written)
        return replace(self._known[known]) if known is not None else None

    async def get_transaction(self, transaction_id: int) -> TransactionRecord | None:
        found = await self._direct(lambda: self.store.get_transaction(transaction_id))
        if not isinstance(found, _Away):
            return found
        known = self._known.get(transaction_id)
        if known is not None:
            return replace(known)
        raise DatabaseAway(f"the database is away: transaction {transaction_id} is not known here")

    async def set_seq_no(self, transaction_id: int, seq_no: int) -> None:
        if not isinstance(await self._direct(lambda: self.store.set_seq_no(transaction_id, seq_no)), _Away):
            return
        self._append({"op": "seq", "id": transaction_id, "seq": seq_no}, sync=False)
        if transaction_id in self._known:
            self._known[transaction_id].last_seq_no = seq_no

    async def set_awaiting_messages(self, transaction_id: int, since: datetime | None) -> None:
        # while the database is away it is kept with the running transaction only (asked again, it comes back)
        if transaction_id in self._known:
            self._known[transaction_id].awaiting_since = since
        await self._direct(lambda: self.store.set_awaiting_messages(transaction_id, since))

    async def open_transactions(self, charge_point_id: str) -> list[TransactionRecord]:
        found = await self._direct(lambda: self.store.open_transactions(charge_point_id))
        if not isinstance(found, _Away):
            return found
        known = (r for r in self._known.values() if r.charge_point_id == charge_point_id and r.stop_ts is None)
        return [replace(record) for record in sorted(known, key=lambda r: r.id)]

    async def record_meters(self, registers: dict[int, float], *, only_higher: bool = False) -> None:
        written = self._registers.rotate() if self._registers is not None else None
        await self._record_meters(registers, only_higher)
        if written is not None and self._registers is not None:
            self._registers.clear(written)  # stored or journaled: the log of them is not needed

    async def _record_meters(self, registers: dict[int, float], only_higher: bool) -> None:
        stored = await self._direct(lambda: self.store.record_meters(registers, only_higher=only_higher))
        if not isinstance(stored, _Away):
            return
        self._append({"op": "meters", "registers": {str(k): v for k, v in registers.items()}})
        for transaction_id, wh in registers.items():
            if transaction_id in self._known and self._known[transaction_id].stop_ts is None:
                self._known[transaction_id].meter_last_wh = wh

    async def stop_transaction(
        self, charge_point_id: str, transaction_id: int, meter_stop_wh: float, ts: datetime, reason: str
    ) -> tuple[TransactionRecord | None, bool]:
        stopped = await self._direct(
            lambda: self.store.stop_transaction(charge_point_id, transaction_id, meter_stop_wh, ts, reason)
        )
        if not isinstance(stopped, _Away):
            self._forget(transaction_id)
            return stopped
        known = self._known.get(transaction_id)
        if known is not None and known.stop_ts is not None and known.charge_point_id == charge_point_id:
            return replace(known), False  # resent while degraded
        self._append({
            "op": "stop", "id": transaction_id, "cp": charge_point_id, "meter_stop_wh": meter_stop_wh,
            "ts": ts.isoformat(), "reason": reason,
        })  # fmt: skip
        if known is None or known.charge_point_id != charge_point_id:
            return None, False  # kept aside as unmatched when written
        known.meter_stop_wh, known.stop_ts, known.stop_reason = meter_stop_wh, ts, reason
        return replace(known), True
