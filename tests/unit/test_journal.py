"""The transaction journal (issue 16, item 5): its file format, the ids reserved from the database's counter,
writing a journal twice, and the lock that keeps a living instance's journal its own. SQLite is real here;
the outage is a store whose connection is refused (the PostgreSQL cases are in tests/integration)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from gateway.db_probe import DatabaseProbe
from gateway.journal import (
    DatabaseAway,
    JournaledRepository,
    JournalFile,
    apply,
    decode,
    encode,
    is_outage,
    orphaned,
)
from gateway.storage import Store, open_store

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)

entries = st.one_of(
    st.fixed_dictionaries(
        {
            "op": st.just("start"),
            "id": st.integers(1, 2**31 - 1),
            "cp": st.text(max_size=20),
            "connector": st.integers(0, 9),
            "id_tag": st.text(max_size=20),
            "meter_start_wh": st.floats(0, 1e9),
            "ts": st.just(T0.isoformat()),
            "ocpp_id": st.none() | st.text(max_size=36),
        }
    ),  # fmt: skip
    st.fixed_dictionaries(
        {
            "op": st.just("meters"),
            "registers": st.dictionaries(st.integers(1, 10**6).map(str), st.floats(0, 1e9), max_size=5),
        }
    ),  # fmt: skip
    st.fixed_dictionaries({"op": st.just("seq"), "id": st.integers(1, 10**6), "seq": st.integers(0, 10**6)}),
)


@given(st.lists(entries, max_size=20))
def test_entries_read_back_as_written(written: list[dict[str, Any]]) -> None:
    assert list(decode(b"".join(encode(e) for e in written))) == written


@given(st.lists(entries, min_size=1, max_size=10), st.data())
def test_a_last_line_cut_short_is_dropped_and_nothing_before_it(written: list[dict[str, Any]], data: Any) -> None:
    whole = b"".join(encode(e) for e in written)
    last = len(encode(written[-1]))
    cut = data.draw(st.integers(len(whole) - last, len(whole) - 1))  # killed while writing the last entry
    assert list(decode(whole[:cut])) == written[:-1]


@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_entries_or_a_value_error(data: bytes) -> None:
    read: list[dict[str, Any]] | str
    try:
        read = list(decode(data))
    except ValueError as exc:
        read = str(exc)
    if isinstance(read, str):
        assert read.startswith("journal line")
    else:
        assert all(entry["op"] in ("start", "stop", "meters", "seq") for entry in read)


def test_a_line_that_is_no_entry_is_named() -> None:
    with pytest.raises(ValueError, match="journal line 2: not a journal entry"):
        list(decode(encode({"op": "seq", "id": 1, "seq": 1}) + b'{"op": "drop"}\n'))


async def test_reserved_ids_never_meet_the_ones_the_database_hands_out(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ids.db'}"
    async with open_store(url) as store:
        first, _ = await store.start_transaction("CP-1", 1, "T", 0.0, T0)
        reserved = await store.reserve_transaction_ids(50)
        after, _ = await store.start_transaction("CP-1", 1, "T", 10.0, T0 + timedelta(minutes=1))
        assert reserved == list(range(first.id + 1, first.id + 51))
        assert after.id == reserved[-1] + 1
        journaled, created = await store.start_transaction(
            "CP-2", 1, "T", 5.0, T0, transaction_id=reserved[0]
        )  # written later, with its reserved id
        assert (journaled.id, created) == (reserved[0], True)
    async with open_store(url) as store:  # reopened: the counter kept its place
        again = await store.reserve_transaction_ids(3)
        assert min(again) > after.id


class AwayStore:
    """A store whose database refuses every connection after `away()`; a real SQLite store before."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.is_away = False

    def away(self, is_away: bool = True) -> None:
        self.is_away = is_away

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.store, name)
        if name == "cached_id_tag" or not callable(attribute):
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.is_away:
                raise ConnectionRefusedError(111, "Connect call failed")
            return await attribute(*args, **kwargs)

        return call


async def test_answered_while_away_written_once_back_and_written_twice_changes_nothing(tmp_path: Path) -> None:
    async with open_store(f"sqlite+aiosqlite:///{tmp_path / 'j.db'}") as store:
        await store.put_id_tag("TAG", "Accepted")
        await store.put_id_tag("OLD", "Blocked")
        running, _ = await store.start_transaction("CP-1", 1, "TAG", 100.0, T0)
        flaky = AwayStore(store)
        repository = JournaledRepository(flaky, tmp_path / "journal", "unit", reserve=4)  # type: ignore[arg-type]
        await repository.open()
        flaky.away()

        assert (await repository.id_tag("OLD", T0)).status == "Blocked"  # as read at open
        assert (await repository.id_tag("NEVER", T0)).known is False
        started, created = await repository.start_transaction("CP-2", 1, "TAG", 500.0, T0)
        assert created
        assert repository.degraded
        again, created = await repository.start_transaction("CP-2", 1, "TAG", 500.0, T0)
        assert (again.id, created) == (started.id, False)
        station, _ = await repository.start_transaction_201("CP-3", 1, "abc", "TAG", 0.0, T0)
        assert await repository.find_transaction_201("CP-3", "abc") == station
        await repository.record_meters({running.id: 300.0, started.id: 800.0})
        await repository.set_seq_no(station.id, 4)
        assert await repository.get_transaction(running.id) is not None  # ran at the outage: known
        _, changed = await repository.stop_transaction("CP-9", running.id, 1.0, T0, "Local")  # not its own
        assert not changed
        stopped, changed = await repository.stop_transaction("CP-1", running.id, 350.0, T0, "Local")
        assert changed
        assert stopped is not None
        assert stopped.energy_wh == 250.0
        with pytest.raises(DatabaseAway):
            await repository.get_transaction(10**6)
        for _ in range(repository.reserved_ids):
            await repository.start_transaction("CP-4", 1, "TAG", float(_), T0)
        with pytest.raises(DatabaseAway, match="reserved transaction id"):
            await repository.start_transaction("CP-4", 1, "TAG", 99.0, T0)

        journal = (tmp_path / "journal" / "unit.jsonl").read_bytes()
        flaky.away(False)
        assert await repository.drain()
        assert not repository.degraded
        assert repository.pending == 0
        assert (tmp_path / "journal" / "unit.jsonl").stat().st_size == 0

        async def stored() -> dict[int, Any]:
            return {r.id: r for r in await store.list_transactions(limit=100)}

        first = await stored()
        assert first[running.id].meter_stop_wh == 350.0
        assert first[started.id].meter_last_wh == 800.0
        assert first[station.id].last_seq_no == 4
        assert first[station.id].ocpp_transaction_id == "abc"
        await apply(store, list(decode(journal)), {})  # written a second time (killed while writing): the same
        assert {i: (r.meter_start_wh, r.meter_stop_wh, r.meter_last_wh) for i, r in (await stored()).items()} == {
            i: (r.meter_start_wh, r.meter_stop_wh, r.meter_last_wh) for i, r in first.items()
        }
        assert await store.count_unmatched_stops() == 1  # CP-9's stop of a transaction not its own
        repository.close()


def test_a_living_instances_journal_is_never_taken(tmp_path: Path) -> None:
    living = JournalFile(tmp_path / "a.jsonl")
    living.append({"op": "seq", "id": 1, "seq": 1})
    dead = tmp_path / "b.jsonl"
    dead.write_bytes(encode({"op": "seq", "id": 2, "seq": 2}))
    with orphaned(tmp_path) as journals:
        assert [(path.name, entries) for path, entries in journals] == [("b.jsonl", [json.loads(dead.read_bytes())])]
    assert not dead.exists()
    assert (tmp_path / "a.jsonl").exists()
    with pytest.raises(RuntimeError, match="in use by another process"):
        JournalFile(tmp_path / "a.jsonl")
    living.close()


async def test_registers_answered_and_not_flushed_are_written_by_the_next_start(tmp_path: Path) -> None:
    async with open_store(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}") as store:
        one, _ = await store.start_transaction("CP-1", 1, "T", 100.0, T0)
        two, _ = await store.start_transaction("CP-2", 1, "T", 100.0, T0)
        first = JournaledRepository(store, tmp_path / "journal", "first")
        await first.open()
        first.log_register(one.id, 150.0)
        await first.record_meters({one.id: 150.0})  # flushed: its log emptied
        first.log_register(one.id, 180.0)
        first.log_register(two.id, 900.0)
        first.log_register(two.id, 950.0)  # answered, then the process is killed before the next flush
        await store.record_meters({two.id: 990.0})  # meanwhile another instance stored a newer register
        first.close()  # (a killed process's locks go with it)
        second = JournaledRepository(store, tmp_path / "journal", "second")
        assert await second.open() == 3  # three register lines left behind
        stored = {r.id: r.meter_last_wh for r in await store.list_transactions(limit=10)}
        assert stored == {one.id: 180.0, two.id: 990.0}  # the newer one is not lowered
        assert sorted(p.name for p in (tmp_path / "journal").glob("*.jsonl")) == [
            "second.jsonl", "second.registers-0.jsonl", "second.registers-1.jsonl",
        ]  # fmt: skip
        second.close()


async def test_a_busy_process_past_its_reserved_ids_reserves_more_while_the_database_answers(tmp_path: Path) -> None:
    """Degraded by a pool timeout (a reconnect storm) while the database still answers: the reserve runs
    out, more ids are reserved at once and every start is answered, once each."""
    async with open_store(f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}") as store:
        flaky = AwayStore(store)
        repository = JournaledRepository(flaky, tmp_path / "journal", "busy", reserve=3)  # type: ignore[arg-type]
        await repository.open()
        flaky.away()
        first, _ = await repository.start_transaction("CP-0", 1, "TAG", 0.0, T0)
        assert repository.degraded
        flaky.away(False)  # it answers again; the repository stays degraded until its journal is drained
        ids = [first.id]
        for n in range(1, 8):
            record, created = await repository.start_transaction(f"CP-{n}", 1, "TAG", float(n), T0)
            assert created
            ids.append(record.id)
        station, _ = await repository.start_transaction_201("CP-8", 1, "tx-8", "TAG", 0.0, T0)
        ids.append(station.id)
        assert len(set(ids)) == len(ids)  # each start its own id
        assert repository.degraded
        assert await repository.drain()
        stored = await store.list_transactions(limit=100)
        assert sorted(r.id for r in stored) == sorted(ids)  # every one written, none twice
        flaky.away()
        repository.degraded = True  # truly away now: past the reserve, the start is refused as before
        for _ in range(repository.reserved_ids):
            await repository.start_transaction("CP-9", 1, "TAG", float(_), T0)
        with pytest.raises(DatabaseAway, match="reserved transaction id"):
            await repository.start_transaction("CP-9", 1, "TAG", 99.0, T0)
        repository.close()


class BusyStore(AwayStore):
    """A store whose next `busy` calls find no pooled connection in time, its database answering meanwhile."""

    def __init__(self, store: Store, busy: int) -> None:
        super().__init__(store)
        self.busy = busy

    def __getattr__(self, name: str) -> Any:
        attribute = super().__getattr__(name)
        if name in ("cached_id_tag", "engine") or not callable(attribute):
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.busy > 0:
                self.busy -= 1
                raise PoolTimeout("QueuePool limit of size 10 overflow 20 reached, connection timed out")
            return await attribute(*args, **kwargs)

        return call


async def test_no_pooled_connection_in_time_is_tried_again_while_the_database_answers(tmp_path: Path) -> None:
    async with open_store(f"sqlite+aiosqlite:///{tmp_path / 'storm.db'}") as store:
        busy = BusyStore(store, busy=0)
        repository = JournaledRepository(busy, tmp_path / "journal", "storm", reserve=3)  # type: ignore[arg-type]
        await repository.open()
        first, _ = await store.start_transaction("CP-1", 1, "TAG", 5.0, T0)  # on the database before
        busy.busy = 2  # a storm: the process waited too long for a connection, twice
        again, created = await repository.start_transaction("CP-1", 1, "TAG", 5.0, T0)  # the same start resent
        assert (again.id, created) == (first.id, False)  # the stored one: never a second id for it
        assert not repository.degraded
        assert repository.busy_retries == 2
        # the database itself away: the probe fails too, and the repository degrades as before
        missing = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'gone.db'}", poolclass=NullPool)
        repository._probe = DatabaseProbe(missing, is_outage)  # noqa: SLF001 - a database that cannot be opened
        busy.busy = 1
        _, created = await repository.start_transaction("CP-2", 1, "TAG", 0.0, T0)
        assert created
        assert repository.degraded
        repository.close()
