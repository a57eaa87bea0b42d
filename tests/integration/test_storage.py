"""SQL storage on real SQLite and real PostgreSQL: migrations, idempotent transactions, ids across restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, inspect

from chargepoints.ports import ChargerRecord
from gateway.db import TransactionRow
from gateway.storage import open_store

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


async def test_migration_creates_schema(database_url: str) -> None:
    async with (
        open_store(database_url) as store,
        store.engine.connect() as conn,
    ):
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert {"chargers", "transactions", "unmatched_stops", "id_tags", "alembic_version"} <= tables


async def test_transaction_ids_never_repeat_across_restarts(database_url: str) -> None:
    url = database_url
    async with open_store(url) as store:
        first, created = await store.start_transaction("CP", 1, "T", 0.0, T0)
        assert created
        # Deleting the newest row must not let its id be handed out again.
        async with store.engine.begin() as conn:
            await conn.execute(delete(TransactionRow))
    async with open_store(url) as store:  # a restart: migrations are a no-op now
        second, created = await store.start_transaction("CP", 1, "T", 0.0, T0 + timedelta(hours=1))
        assert created
    assert second.id > first.id


async def test_start_is_idempotent_and_stop_is_recorded_once(database_url: str) -> None:
    async with open_store(database_url) as store:
        await store.save_charger(ChargerRecord(id="CP", site_id="s"))
        a, created_a = await store.start_transaction("CP", 1, "T", 100.0, T0)
        b, created_b = await store.start_transaction("CP", 1, "T", 100.0, T0)
        assert (created_a, created_b) == (True, False)
        assert a.id == b.id
        stopped, changed = await store.stop_transaction("CP", a.id, 900.0, T0 + timedelta(hours=1), "Local")
        again, changed_again = await store.stop_transaction("CP", a.id, 950.0, T0 + timedelta(hours=2), "Other")
        assert (changed, changed_again) == (True, False)
        assert stopped is not None
        assert again is not None
        assert again.meter_stop_wh == 900.0
        assert again.energy_wh == 800.0
        # a stop from another charger for this id is not applied to it
        foreign, changed_foreign = await store.stop_transaction("OTHER", a.id, 1.0, T0, "Local")
        assert foreign is None
        assert not changed_foreign
        assert await store.count_unmatched_stops() == 1


async def test_id_tag_expiry(database_url: str) -> None:
    async with open_store(database_url) as store:
        await store.put_id_tag("A", "Accepted", expiry_date=T0)
        await store.put_id_tag("B", "Accepted", expiry_date=T0 + timedelta(days=1))
        assert await store.id_tag_status("A", T0 + timedelta(seconds=1)) == "Expired"
        assert await store.id_tag_status("B", T0) == "Accepted"
        assert await store.id_tag_status("C", T0) == "Invalid"


async def test_migrations_go_down_and_up_again(database_url: str) -> None:
    from alembic import command

    from gateway.storage import _alembic_config

    async with open_store(database_url) as store:
        async with store.engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(_alembic_config(sync), "base"))
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            assert tables <= {"alembic_version"}
            await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))
        record, created = await store.start_transaction("CP", 1, "T", 0.0, T0)
        assert created
        assert record.id == 1


async def test_energy_minutes_add_up_and_baselines_survive_a_restart(database_url: str) -> None:
    from solar.accounting import Baseline

    minute = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    async with open_store(database_url) as store:
        await store.energy.add_minutes(
            {("park-1/inv-1", minute): 10.0, ("park-1/inv-2", minute): 5.0, ("park-2/inv-1", minute): 7.0},
            {"park-1/inv-1": Baseline(minute + timedelta(seconds=59), 1010.0)},
            [("park-1", minute, 4.0, 9.0)],
        )
        await store.energy.add_minutes(  # the same minute again: added, not replaced
            {("park-1/inv-1", minute): 2.5, ("park-1/inv-1", minute + timedelta(minutes=1)): 1.0},
            {"park-1/inv-1": Baseline(minute + timedelta(seconds=90), 1013.5)},
            [("park-1", minute, 1.0, 1.0)],
        )
    async with open_store(database_url) as store:
        baselines = await store.energy.load_baselines()
        assert baselines["park-1/inv-1"].energy_wh == 1013.5
        assert baselines["park-1/inv-1"].ts == minute + timedelta(seconds=90)
        window = await store.energy.by_park(["park-1", "park-2", "park-3"], minute, minute + timedelta(hours=1))
        assert window == {"park-1": (18.5, 5.0), "park-2": (7.0, 0.0), "park-3": (0.0, 0.0)}
        series = await store.energy.park_minutes("park-1", minute, minute + timedelta(hours=1))
        assert series == [(minute, 17.5, 5.0), (minute + timedelta(minutes=1), 1.0, 0.0)]
        assert await store.energy.by_park(["park-1"], minute + timedelta(minutes=1), minute + timedelta(hours=1)) == {
            "park-1": (1.0, 0.0)
        }


@pytest.mark.parametrize("bucket", ["minute", "15min", "hour", "day", "month"])
async def test_park_series_is_grouped_in_sql_as_the_rollup_says(database_url: str, bucket: str) -> None:
    from solar.accounting import Baseline, rollup

    start = datetime(2026, 5, 31, 23, 50, tzinfo=UTC)  # across an hour, a day and a month
    minutes = [start + timedelta(minutes=7 * k) for k in range(40)]
    solar = {(f"park-1/inv-{k % 2}", m): 1.0 + k for k, m in enumerate(minutes)}
    green = [("park-1", m, 0.5, 2.0) for m in minutes[::3]]
    async with open_store(database_url) as store:
        await store.energy.add_minutes(solar, {"park-1/inv-0": Baseline(minutes[-1], 1.0)}, green)
        await store.energy.add_minutes({("park-2/inv-0", minutes[0]): 99.0}, {}, [])
        series = await store.energy.park_series("park-1", start, start + timedelta(days=2), bucket)
    generated = rollup(((m, wh) for (_, m), wh in solar.items()), bucket)
    into_evs = dict(rollup(((m, wh) for _, m, wh, _ in green), bucket))
    expected: list[Any] = [(at, pytest.approx(wh), pytest.approx(into_evs.get(at, 0.0))) for at, wh in generated]
    assert series == expected


async def test_the_migrations_build_what_the_models_say(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from gateway.db import Base

    async with open_store(database_url) as store, store.engine.connect() as conn:
        diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
    assert diff == []


async def test_days_are_kept_with_the_minutes_and_rebuilt_from_them_by_the_migration(database_url: str) -> None:
    from alembic import command

    from gateway.storage import _alembic_config

    start = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
    minutes = [start + timedelta(minutes=37 * k) for k in range(200)]  # five days and some
    solar = {(f"park-{k % 3}/inv-{k % 2}", m): 1.0 + k % 7 for k, m in enumerate(minutes)}
    green = [(f"park-{k % 3}", m, 0.5, 2.0) for k, m in enumerate(minutes) if k % 4 == 0]
    windows = [
        (start, start + timedelta(days=10)),  # whole days only
        (start + timedelta(hours=5, minutes=13), start + timedelta(days=3, hours=2)),  # partial days at both ends
        (start + timedelta(days=1, hours=1), start + timedelta(days=1, hours=20)),  # within one day
    ]
    parks = ["park-0", "park-1", "park-2"]

    def expected(a: datetime, b: datetime) -> dict[str, tuple[float, float]]:
        out = {park: [0.0, 0.0] for park in parks}
        for (key, m), wh in solar.items():
            if a <= m < b:
                out[key.partition("/")[0]][0] += wh
        for park, m, wh, _ in green:
            if a <= m < b:
                out[park][1] += wh
        return {park: (pytest.approx(g), pytest.approx(e)) for park, (g, e) in out.items()}  # type: ignore[misc]

    async with open_store(database_url) as store:
        for chunk in range(0, len(minutes), 50):  # in several writes, as the platform does
            part = {k: v for k, v in solar.items() if k[1] in minutes[chunk : chunk + 50]}
            await store.energy.add_minutes(part, {}, [g for g in green if g[1] in minutes[chunk : chunk + 50]])
        for a, b in windows:
            assert await store.energy.by_park(parks, a, b) == expected(a, b)
        daily = await store.energy.park_series("park-1", windows[1][0], windows[1][1], "day")
        assert sum(g for _, g, _ in daily) == pytest.approx(expected(*windows[1])["park-1"][0])
        async with store.engine.begin() as conn:  # the day table dropped, then rebuilt from the minutes
            await conn.run_sync(lambda sync: command.downgrade(_alembic_config(sync), "0006"))
            await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))
        for a, b in windows:
            assert await store.energy.by_park(parks, a, b) == expected(a, b)
