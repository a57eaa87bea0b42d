"""SQL storage on a real SQLite file: migrations, idempotent transactions, ids across restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, inspect

from chargepoints.ports import ChargerRecord
from gateway.db import TransactionRow
from gateway.storage import open_store

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


async def test_migration_creates_schema(tmp_path: Path) -> None:
    async with (
        open_store(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}") as store,
        store.engine.connect() as conn,
    ):
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert {"chargers", "transactions", "unmatched_stops", "id_tags", "alembic_version"} <= tables


async def test_transaction_ids_never_repeat_across_restarts(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"
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


async def test_start_is_idempotent_and_stop_is_recorded_once(tmp_path: Path) -> None:
    async with open_store(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}") as store:
        await store.save_charger(ChargerRecord(id="CP", site_id="s"))
        a, created_a = await store.start_transaction("CP", 1, "T", 100.0, T0)
        b, created_b = await store.start_transaction("CP", 1, "T", 100.0, T0)
        assert (created_a, created_b) == (True, False)
        assert a.id == b.id
        stopped, changed = await store.stop_transaction("CP", a.id, 900.0, T0 + timedelta(hours=1), "Local")
        again, changed_again = await store.stop_transaction(
            "CP", a.id, 950.0, T0 + timedelta(hours=2), "Other"
        )
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


async def test_id_tag_expiry(tmp_path: Path) -> None:
    async with open_store(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}") as store:
        await store.put_id_tag("A", "Accepted", expiry_date=T0)
        await store.put_id_tag("B", "Accepted", expiry_date=T0 + timedelta(days=1))
        assert await store.id_tag_status("A", T0 + timedelta(seconds=1)) == "Expired"
        assert await store.id_tag_status("B", T0) == "Accepted"
        assert await store.id_tag_status("C", T0) == "Invalid"
