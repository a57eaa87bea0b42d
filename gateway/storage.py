"""SQL storage (SQLAlchemy 2 async): the charge-point repository and queries for REST.

`open_store(url)` is an async context manager: it creates the engine, brings
the schema to the newest Alembic revision and disposes of the engine on exit.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Integer, and_, case, cast, event, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from chargepoints.ports import ChargerRecord, IdTagStatus, TransactionRecord
from gateway.db import (
    ChargerRow,
    DeviceVariableRow,
    GreenMinuteRow,
    IdTagRow,
    ParkDayRow,
    SiteRow,
    SolarBaselineRow,
    SolarMinuteRow,
    TransactionRow,
    UnmatchedStopRow,
)
from gateway.repositories.events import EventRepository
from gateway.repositories.tokens import TokenRepository
from solar.accounting import BUCKETS as BUCKET_SECONDS
from solar.accounting import Baseline

MIGRATIONS = Path(__file__).with_name("migrations")


def _alembic_config(connection: Connection) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(_alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


def _charger(row: ChargerRow) -> ChargerRecord:
    return ChargerRecord(
        id=row.id,
        registration=row.registration,
        ocpp_version=row.ocpp_version,
        vendor=row.vendor,
        model=row.model,
        serial_number=row.serial_number,
        firmware_version=row.firmware_version,
        site_id=row.site_id,
        last_seen=row.last_seen,
    )


def _id_tag(row: IdTagRow) -> dict[str, object]:
    return {
        "id_tag": row.id_tag,
        "status": row.status,
        "expiry_date": row.expiry_date.isoformat().replace("+00:00", "Z") if row.expiry_date else None,
        "group_id": row.parent_id_tag,
        "type": row.type,
    }


def _transaction(row: TransactionRow) -> TransactionRecord:
    return TransactionRecord(
        id=row.id,
        charge_point_id=row.charge_point_id,
        connector_id=row.connector_id,
        id_tag=row.id_tag,
        meter_start_wh=row.meter_start_wh,
        start_ts=row.start_ts,
        meter_last_wh=row.meter_last_wh,
        meter_stop_wh=row.meter_stop_wh,
        stop_ts=row.stop_ts,
        stop_reason=row.stop_reason,
        ocpp_transaction_id=row.ocpp_transaction_id,
        last_seq_no=row.last_seq_no,
        green_energy_wh=row.green_energy_wh,
        mode=row.mode or "green",
        priority=row.priority or 0,
        target_wh=row.target_wh,
        departure_ts=row.departure_ts,
    )


SITE_FIELDS = ("name", "cooperative_id", "grid_limit_a", "base_load_a", "voltage_v")


def _site(row: SiteRow) -> dict[str, Any]:
    return {"id": row.id, **{name: getattr(row, name) for name in SITE_FIELDS}}


ID_TAG_TTL_S = 30.0


class Store:
    """Implements chargepoints.ports.ChargePointRepository on SQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._session = async_sessionmaker(engine, expire_on_commit=False)
        self._credentials: dict[str, tuple[tuple[int, str | None] | None, float]] = {}
        self._all_loaded_at = -1e9
        # id tag -> ((status, expiry, parent) or None when unknown, when read): a storm of starts reads each once
        self._id_tags: dict[str, tuple[tuple[str, datetime | None, str | None] | None, float]] = {}
        self.tokens = TokenRepository(self._session)
        self.events = EventRepository(self._session)

    # -- chargers ---------------------------------------------------------------
    async def get_charger(self, charge_point_id: str) -> ChargerRecord | None:
        async with self._session() as session:
            row = await session.get(ChargerRow, charge_point_id)
            return _charger(row) if row else None

    async def save_charger(self, record: ChargerRecord) -> None:
        await self.save_chargers([record])

    async def save_chargers(self, records: list[ChargerRecord]) -> None:
        """Upsert many records in one statement (a reconnect storm flushes thousands at once)."""
        if not records:
            return
        now = time.monotonic()
        for record in records:  # newly stored chargers are no longer "unknown" (profile 0 until set)
            cached = self._credentials.get(record.id)
            if cached is None or cached[0] is None:
                self._credentials[record.id] = ((0, None), now)
        rows = [
            {
                "id": r.id,
                "registration": r.registration,
                "ocpp_version": r.ocpp_version,
                "vendor": r.vendor,
                "model": r.model,
                "serial_number": r.serial_number,
                "firmware_version": r.firmware_version,
                "site_id": r.site_id,
                "last_seen": r.last_seen,
            }
            for r in records
        ]
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        statement = insert(ChargerRow)
        updated = {c: getattr(statement.excluded, c) for c in rows[0] if c != "id"}
        statement = statement.on_conflict_do_update(index_elements=[ChargerRow.id], set_=updated)
        async with self.engine.begin() as connection:
            for start in range(0, len(rows), 500):
                await connection.execute(statement, rows[start : start + 500])

    async def set_credentials(self, charge_point_id: str, security_profile: int, password_hash: str | None) -> None:
        self._credentials[charge_point_id] = ((security_profile, password_hash), time.monotonic())
        async with self._session.begin() as session:
            row = await session.get(ChargerRow, charge_point_id)
            if row is None:
                row = ChargerRow(id=charge_point_id, registration="Accepted")
                session.add(row)
            row.security_profile = security_profile
            row.password_hash = password_hash

    async def get_credentials(self, charge_point_id: str) -> tuple[int, str | None] | None:
        """(security profile, password hash) of a registered charger, None when unknown.

        Asked before every WebSocket upgrade: answered from memory once read, so a
        reconnect storm does not queue on the database. Changes made through this
        store update the cache; unknown ids are asked again after a minute.
        """
        cached = self._credentials.get(charge_point_id)
        now = time.monotonic()
        if cached is not None and (cached[0] is not None or now - cached[1] < 60.0):
            return cached[0]
        if cached is None and now - self._all_loaded_at < 60.0:
            return None  # not among the chargers loaded a moment ago: unknown
        async with self._session() as session:
            row = await session.get(ChargerRow, charge_point_id)
            value = (row.security_profile, row.password_hash) if row else None
        self._credentials[charge_point_id] = (value, now)
        return value

    async def load_chargers(self) -> list[ChargerRecord]:
        """Every charger record, in one query; also refreshes the credentials cache."""
        async with self._session() as session:
            rows = (await session.scalars(select(ChargerRow))).all()
        now = time.monotonic()
        self._credentials = {row.id: ((row.security_profile, row.password_hash), now) for row in rows}
        self._all_loaded_at = now
        return [_charger(row) for row in rows]

    async def list_chargers(self) -> list[ChargerRecord]:
        async with self._session() as session:
            rows = (await session.scalars(select(ChargerRow).order_by(ChargerRow.id))).all()
            return [_charger(row) for row in rows]

    # -- the scheduler's world: sites, chargers' specs, sessions' modes ------------------------------
    async def list_sites(self) -> list[dict[str, Any]]:
        async with self._session() as session:
            rows = (await session.scalars(select(SiteRow).order_by(SiteRow.id))).all()
        return [_site(row) for row in rows]

    async def get_site(self, site_id: str) -> dict[str, Any] | None:
        async with self._session() as session:
            row = await session.get(SiteRow, site_id)
            return _site(row) if row else None

    async def put_site(self, site: dict[str, Any]) -> bool:
        """Create or change a site (keys: id and any of SITE_FIELDS); True when it was created.

        One upsert: instances seeding the same configuration at the same moment do not collide.
        """
        existed = await self.get_site(site["id"]) is not None
        given = {name: site[name] for name in SITE_FIELDS if name in site}
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        values = {"name": "", "base_load_a": 0.0, "voltage_v": 230.0, "grid_limit_a": 63.0, **given}
        statement = insert(SiteRow).values(id=site["id"], **values)
        if given:
            statement = statement.on_conflict_do_update(index_elements=[SiteRow.id], set_=given)
        else:
            statement = statement.on_conflict_do_nothing(index_elements=[SiteRow.id])
        async with self.engine.begin() as connection:
            await connection.execute(statement)
        return not existed

    async def delete_site(self, site_id: str) -> bool:
        """Delete a site; its chargers are no longer at any site (not scheduled until placed again)."""
        async with self._session.begin() as session:
            row = await session.get(SiteRow, site_id)
            if row is None:
                return False
            await session.delete(row)
            await session.execute(update(ChargerRow).where(ChargerRow.site_id == site_id).values(site_id=None))
        return True

    async def set_charger_spec(
        self, charge_point_id: str, *, phases: int, min_current_a: float, max_current_a: float, phase_switching: bool
    ) -> None:
        async with self._session.begin() as session:
            row = await session.get(ChargerRow, charge_point_id)
            if row is None:
                row = ChargerRow(id=charge_point_id, registration="Accepted")
                session.add(row)
            row.phases, row.min_current_a, row.max_current_a = phases, min_current_a, max_current_a
            row.phase_switching = phase_switching

    async def set_charger_site(self, charge_point_id: str, site_id: str | None) -> None:
        async with self._session.begin() as session:
            await session.execute(update(ChargerRow).where(ChargerRow.id == charge_point_id).values(site_id=site_id))

    async def charger_specs(self) -> dict[str, dict[str, Any]]:
        """Every charger at a site: its site, phases, current range and phase switching."""
        columns = (
            ChargerRow.id,
            ChargerRow.site_id,
            ChargerRow.phases,
            ChargerRow.min_current_a,
            ChargerRow.max_current_a,
            ChargerRow.phase_switching,
        )
        async with self._session() as session:
            rows = (await session.execute(select(*columns).where(ChargerRow.site_id.is_not(None)))).all()
        return {
            r.id: {
                "site_id": r.site_id,
                "phases": r.phases or 3,
                "min_current_a": r.min_current_a if r.min_current_a is not None else 6.0,
                "max_current_a": r.max_current_a if r.max_current_a is not None else 16.0,
                "phase_switching": bool(r.phase_switching),
            }
            for r in rows
        }

    async def set_session_mode(
        self, transaction_id: int, mode: str, priority: int, target_wh: float | None, departure_ts: datetime | None
    ) -> None:
        async with self._session.begin() as session:
            row = await session.get(TransactionRow, transaction_id)
            if row is not None:
                row.mode, row.priority, row.target_wh, row.departure_ts = mode, priority, target_wh, departure_ts

    # -- transactions ---------------------------------------------------------------
    def _charger_if_missing(self, charge_point_id: str) -> Any:
        """INSERT ... ON CONFLICT DO NOTHING: a boot's write-behind (or another instance) may store it meanwhile."""
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        statement = insert(ChargerRow).values(id=charge_point_id, registration="Accepted")
        return statement.on_conflict_do_nothing(index_elements=[ChargerRow.id])

    async def start_transaction(
        self, charge_point_id: str, connector_id: int, id_tag: str, meter_start_wh: float, ts: datetime
    ) -> tuple[TransactionRecord, bool]:
        same = select(TransactionRow).where(
            TransactionRow.charge_point_id == charge_point_id,
            TransactionRow.connector_id == connector_id,
            TransactionRow.start_ts == ts,
            TransactionRow.meter_start_wh == meter_start_wh,
        )
        async with self._session() as session:
            existing = (await session.scalars(same)).first()
            if existing is not None:
                return _transaction(existing), False
            await session.execute(self._charger_if_missing(charge_point_id))
            row = TransactionRow(
                charge_point_id=charge_point_id,
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start_wh=meter_start_wh,
                start_ts=ts,
            )
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:  # raced with an identical start
                await session.rollback()
                return _transaction((await session.scalars(same)).one()), False
            return _transaction(row), True

    async def start_transaction_201(
        self,
        charge_point_id: str,
        evse_id: int,
        ocpp_transaction_id: str,
        id_tag: str,
        meter_start_wh: float,
        ts: datetime,
    ) -> tuple[TransactionRecord, bool]:
        existing = await self.find_transaction_201(charge_point_id, ocpp_transaction_id)
        if existing is not None:
            return existing, False
        async with self._session() as session:
            await session.execute(self._charger_if_missing(charge_point_id))
            row = TransactionRow(
                charge_point_id=charge_point_id,
                connector_id=evse_id,
                id_tag=id_tag,
                meter_start_wh=meter_start_wh,
                start_ts=ts,
                ocpp_transaction_id=ocpp_transaction_id,
            )
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:  # raced with the same Started event
                await session.rollback()
                found = await self.find_transaction_201(charge_point_id, ocpp_transaction_id)
                assert found is not None
                return found, False
            return _transaction(row), True

    async def find_transaction_201(self, charge_point_id: str, ocpp_transaction_id: str) -> TransactionRecord | None:
        query = select(TransactionRow).where(
            TransactionRow.charge_point_id == charge_point_id,
            TransactionRow.ocpp_transaction_id == ocpp_transaction_id,
        )
        async with self._session() as session:
            row = (await session.scalars(query)).first()
            return _transaction(row) if row else None

    async def find_transactions_by_api_id(self, api_id: str, charge_point_id: str | None) -> list[TransactionRecord]:
        """Sessions whose operator-facing id is `api_id` (ours for 1.6, the charger's for 2.0.1)."""
        conditions = [TransactionRow.ocpp_transaction_id == api_id]
        if api_id.isdigit():
            conditions.append((TransactionRow.id == int(api_id)) & TransactionRow.ocpp_transaction_id.is_(None))
        query = select(TransactionRow).where(or_(*conditions))
        if charge_point_id is not None:
            query = query.where(TransactionRow.charge_point_id == charge_point_id)
        async with self._session() as session:
            return [_transaction(row) for row in (await session.scalars(query)).all()]

    async def set_green_energy(self, transaction_id: int, green_wh: float) -> None:
        async with self._session.begin() as session:
            row = await session.get(TransactionRow, transaction_id)
            if row is not None:
                row.green_energy_wh = green_wh

    async def set_seq_no(self, transaction_id: int, seq_no: int) -> None:
        async with self._session.begin() as session:
            row = await session.get(TransactionRow, transaction_id)
            if row is not None:
                row.last_seq_no = seq_no

    async def save_variables(
        self, charge_point_id: str, variables: list[tuple[str, str, str, str | None, str | None]]
    ) -> None:
        async with self._session.begin() as session:
            for component, variable, attribute, value, mutability in variables:
                key = (charge_point_id, component, variable, attribute)
                row = await session.get(DeviceVariableRow, key)
                if row is None:
                    row = DeviceVariableRow(
                        charge_point_id=charge_point_id, component=component, variable=variable, attribute=attribute
                    )
                    session.add(row)
                if value is not None:
                    row.value = value
                if mutability is not None:
                    row.mutability = mutability

    async def list_variables(self, charge_point_id: str) -> list[dict[str, Any]]:
        query = (
            select(DeviceVariableRow)
            .where(DeviceVariableRow.charge_point_id == charge_point_id)
            .order_by(DeviceVariableRow.component, DeviceVariableRow.variable, DeviceVariableRow.attribute)
        )
        async with self._session() as session:
            rows = (await session.scalars(query)).all()
        return [
            {
                "component": r.component,
                "variable": r.variable,
                "attribute": r.attribute,
                "value": r.value,
                "mutability": r.mutability,
            }
            for r in rows
        ]

    async def stop_transaction(
        self, charge_point_id: str, transaction_id: int, meter_stop_wh: float, ts: datetime, reason: str
    ) -> tuple[TransactionRecord | None, bool]:
        async with self._session.begin() as session:
            row = await session.get(TransactionRow, transaction_id)
            if row is None or row.charge_point_id != charge_point_id:
                session.add(
                    UnmatchedStopRow(
                        charge_point_id=charge_point_id,
                        transaction_id=transaction_id,
                        meter_stop_wh=meter_stop_wh,
                        stop_ts=ts,
                        reason=reason,
                    )
                )
                return None, False
            if row.stop_ts is not None:  # a resent stop: same answer, no change
                return _transaction(row), False
            row.meter_stop_wh = meter_stop_wh
            row.stop_ts = ts
            row.stop_reason = reason
            return _transaction(row), True

    async def record_meters(self, registers: dict[int, float]) -> None:
        """One UPDATE ... CASE statement per 500 transactions: a flush costs one round trip, not one per row."""
        if not registers:
            return
        items = sorted(registers.items())
        async with self.engine.begin() as connection:
            for start in range(0, len(items), 500):
                chunk = dict(items[start : start + 500])
                statement = (
                    update(TransactionRow)
                    .where(TransactionRow.id.in_(list(chunk)), TransactionRow.stop_ts.is_(None))
                    .values(meter_last_wh=case(chunk, value=TransactionRow.id))
                    .execution_options(synchronize_session=False)
                )
                await connection.execute(statement)

    async def get_transaction(self, transaction_id: int) -> TransactionRecord | None:
        async with self._session() as session:
            row = await session.get(TransactionRow, transaction_id)
            return _transaction(row) if row else None

    async def list_transactions(
        self,
        *,
        active: bool | None = None,
        charge_point_id: str | None = None,
        started_from: datetime | None = None,
        started_to: datetime | None = None,
        charge_point_ids: Collection[str] | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[TransactionRecord]:
        """Newest first; the filters combine."""
        query = _transaction_filter(
            select(TransactionRow), active, charge_point_id, started_from, started_to, charge_point_ids
        )
        query = query.order_by(TransactionRow.id.desc()).limit(limit).offset(offset)
        async with self._session() as session:
            return [_transaction(row) for row in (await session.scalars(query)).all()]

    async def count_transactions(
        self,
        *,
        active: bool | None = None,
        charge_point_id: str | None = None,
        started_from: datetime | None = None,
        started_to: datetime | None = None,
        charge_point_ids: Collection[str] | None = None,
    ) -> int:
        query = _transaction_filter(
            select(func.count()).select_from(TransactionRow),
            active,
            charge_point_id,
            started_from,
            started_to,
            charge_point_ids,
        )
        async with self._session() as session:
            return int((await session.scalar(query)) or 0)

    # -- energy accounting -------------------------------------------------------------
    async def add_energy_minutes(
        self,
        solar: dict[tuple[str, datetime], float],
        baselines: dict[str, Baseline],
        green: list[tuple[str, datetime, float, float]],
    ) -> None:
        """Add drained minutes (solar per "park/inverter", green per park) and store the baselines, atomically."""
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        solar_rows: list[dict[str, Any]] = []
        for (key, minute), wh in solar.items():
            park_id, _, inverter_id = key.partition("/")
            solar_rows.append({"park_id": park_id, "inverter_id": inverter_id, "minute": minute, "wh": wh})
        base_rows = []
        for key, base in baselines.items():
            park_id, _, inverter_id = key.partition("/")
            base_rows.append(
                {"park_id": park_id, "inverter_id": inverter_id, "ts": base.ts, "energy_wh": base.energy_wh,
                 "power_w": base.power_w}
            )  # fmt: skip
        green_rows: list[dict[str, Any]] = [
            {"park_id": p, "minute": m, "wh": wh, "ev_wh": ev} for p, m, wh, ev in green
        ]
        async with self.engine.begin() as connection:
            if solar_rows:
                statement = insert(SolarMinuteRow)
                statement = statement.on_conflict_do_update(
                    index_elements=["park_id", "inverter_id", "minute"],
                    set_={"wh": SolarMinuteRow.__table__.c.wh + statement.excluded.wh},
                )
                for start in range(0, len(solar_rows), 500):
                    await connection.execute(statement, solar_rows[start : start + 500])
            if base_rows:
                statement = insert(SolarBaselineRow)
                statement = statement.on_conflict_do_update(
                    index_elements=["park_id", "inverter_id"],
                    set_={c: getattr(statement.excluded, c) for c in ("ts", "energy_wh", "power_w")},
                )
                for start in range(0, len(base_rows), 500):
                    await connection.execute(statement, base_rows[start : start + 500])
            if green_rows:
                statement = insert(GreenMinuteRow)
                table = GreenMinuteRow.__table__.c
                statement = statement.on_conflict_do_update(
                    index_elements=["park_id", "minute"],
                    set_={"wh": table.wh + statement.excluded.wh, "ev_wh": table.ev_wh + statement.excluded.ev_wh},
                )
                for start in range(0, len(green_rows), 500):
                    await connection.execute(statement, green_rows[start : start + 500])
            day_sums: dict[tuple[str, datetime], list[float]] = {}
            for row in solar_rows:
                day_sums.setdefault((row["park_id"], _day(row["minute"])), [0.0, 0.0])[0] += row["wh"]
            for row in green_rows:
                day_sums.setdefault((row["park_id"], _day(row["minute"])), [0.0, 0.0])[1] += row["wh"]
            if day_sums:
                statement = insert(ParkDayRow)
                table = ParkDayRow.__table__.c
                statement = statement.on_conflict_do_update(
                    index_elements=["park_id", "day"],
                    set_={
                        "generated_wh": table.generated_wh + statement.excluded.generated_wh,
                        "to_evs_wh": table.to_evs_wh + statement.excluded.to_evs_wh,
                    },
                )
                day_rows = [
                    {"park_id": park, "day": day, "generated_wh": generated, "to_evs_wh": green}
                    for (park, day), (generated, green) in day_sums.items()
                ]
                for start in range(0, len(day_rows), 500):
                    await connection.execute(statement, day_rows[start : start + 500])

    async def load_solar_baselines(self) -> dict[str, Baseline]:
        async with self._session() as session:
            rows = (await session.scalars(select(SolarBaselineRow))).all()
        return {f"{r.park_id}/{r.inverter_id}": Baseline(r.ts, r.energy_wh, r.power_w) for r in rows}

    async def energy_by_park(
        self, park_ids: list[str], start: datetime, end: datetime
    ) -> dict[str, tuple[float, float]]:
        """Per park: (generated Wh, green Wh into EVs) over [start, end), summed in SQL.

        Whole UTC days come from the day table, the partial days at either end from the minutes.
        """
        edges, days = _split_days(start, end)
        totals = {park: [0.0, 0.0] for park in park_ids}
        async with self._session() as session:
            for column, row in ((0, SolarMinuteRow), (1, GreenMinuteRow)):
                if not edges:
                    break
                query = (
                    select(row.park_id, func.sum(row.wh))
                    .where(row.park_id.in_(park_ids), or_(*(and_(row.minute >= a, row.minute < b) for a, b in edges)))
                    .group_by(row.park_id)
                )
                for park, wh in (await session.execute(query)).all():
                    totals[park][column] += float(wh or 0.0)
            if days is not None:
                by_day = (
                    select(ParkDayRow.park_id, func.sum(ParkDayRow.generated_wh), func.sum(ParkDayRow.to_evs_wh))
                    .where(ParkDayRow.park_id.in_(park_ids), ParkDayRow.day >= days[0], ParkDayRow.day < days[1])
                    .group_by(ParkDayRow.park_id)
                )
                for park, generated, green in (await session.execute(by_day)).all():
                    totals[park][0] += float(generated or 0.0)
                    totals[park][1] += float(green or 0.0)
        return {park: (generated, green) for park, (generated, green) in totals.items()}

    async def park_minutes(self, park_id: str, start: datetime, end: datetime) -> list[tuple[datetime, float, float]]:
        """(minute, generated Wh, green Wh into EVs) of one park over [start, end), minutes in order."""
        solar_query = (
            select(SolarMinuteRow.minute, func.sum(SolarMinuteRow.wh))
            .where(SolarMinuteRow.park_id == park_id, SolarMinuteRow.minute >= start, SolarMinuteRow.minute < end)
            .group_by(SolarMinuteRow.minute)
        )
        green_query = select(GreenMinuteRow.minute, GreenMinuteRow.wh).where(
            GreenMinuteRow.park_id == park_id, GreenMinuteRow.minute >= start, GreenMinuteRow.minute < end
        )
        async with self._session() as session:
            generated = dict((await session.execute(solar_query)).all())
            green = dict((await session.execute(green_query)).all())
        minutes = sorted({_utc(m) for m in generated} | {_utc(m) for m in green})
        gen = {_utc(m): float(v) for m, v in generated.items()}
        grn = {_utc(m): float(v) for m, v in green.items()}
        return [(m, gen.get(m, 0.0), grn.get(m, 0.0)) for m in minutes]

    def _bucket(self, column: Any, bucket: str) -> Any:
        """A column's UTC time bucket, in SQL: epoch seconds of its start, or "YYYY-MM" for months."""
        postgres = self.engine.dialect.name == "postgresql"
        if bucket == "month":
            if postgres:
                return func.to_char(func.timezone("UTC", column), "YYYY-MM")
            return func.strftime("%Y-%m", column)
        size = BUCKET_SECONDS[bucket]
        if postgres:
            return func.floor(func.date_part("epoch", column) / size) * size
        return cast(func.strftime("%s", column), Integer) // size * size

    async def park_series(
        self, park_id: str, start: datetime, end: datetime, bucket: str
    ) -> list[tuple[datetime, float, float]]:
        """(bucket start, generated Wh, green Wh into EVs) of one park over [start, end), grouped in SQL.

        Days and months are summed from the day table for whole days, from the minutes at the edges.
        """
        if bucket != "month" and bucket not in BUCKET_SECONDS:
            raise ValueError(f"unknown bucket {bucket!r}")
        edges, days = _split_days(start, end) if bucket in ("day", "month") else ([(start, end)], None)
        series: dict[datetime, list[float]] = {}

        def add(at: Any, wh: Any, column: int) -> None:
            begin = (
                datetime.strptime(at, "%Y-%m").replace(tzinfo=UTC)
                if bucket == "month"
                else datetime.fromtimestamp(int(at), UTC)
            )
            series.setdefault(begin, [0.0, 0.0])[column] += float(wh or 0.0)

        async with self._session() as session:
            for column, row in ((0, SolarMinuteRow), (1, GreenMinuteRow)):
                if not edges:
                    break
                key = self._bucket(row.minute, bucket).label("bucket")
                query = (
                    select(key, func.sum(row.wh))
                    .where(row.park_id == park_id, or_(*(and_(row.minute >= a, row.minute < b) for a, b in edges)))
                    .group_by(key)
                )
                for at, wh in (await session.execute(query)).all():
                    add(at, wh, column)
            if days is not None:
                key = self._bucket(ParkDayRow.day, bucket).label("bucket")
                query = (
                    select(key, func.sum(ParkDayRow.generated_wh), func.sum(ParkDayRow.to_evs_wh))
                    .where(ParkDayRow.park_id == park_id, ParkDayRow.day >= days[0], ParkDayRow.day < days[1])
                    .group_by(key)
                )
                for at, generated, green in (await session.execute(query)).all():
                    add(at, generated, 0)
                    add(at, green, 1)
        return [(at, gen, green) for at, (gen, green) in sorted(series.items()) if gen or green]

    async def count_unmatched_stops(self) -> int:
        async with self._session() as session:
            return len((await session.scalars(select(UnmatchedStopRow.id))).all())

    # -- id tags ------------------------------------------------------------------
    async def put_id_tag(
        self,
        id_tag: str,
        status: str,
        expiry_date: datetime | None = None,
        parent_id_tag: str | None = None,
        type_: str | None = None,
    ) -> bool:
        """Create or replace an id tag; True when it was created."""
        async with self._session.begin() as session:
            row = await session.get(IdTagRow, id_tag)
            created = row is None
            if row is None:
                row = IdTagRow(id_tag=id_tag)
                session.add(row)
            row.status = status
            row.expiry_date = expiry_date
            row.parent_id_tag = parent_id_tag
            row.type = type_
        self._id_tags.pop(id_tag, None)
        return created

    async def get_id_tag(self, id_tag: str) -> dict[str, object] | None:
        async with self._session() as session:
            row = await session.get(IdTagRow, id_tag)
            return _id_tag(row) if row else None

    async def list_id_tags(self) -> list[dict[str, object]]:
        async with self._session() as session:
            rows = (await session.scalars(select(IdTagRow).order_by(IdTagRow.id_tag))).all()
            return [_id_tag(row) for row in rows]

    async def delete_id_tag(self, id_tag: str) -> bool:
        async with self._session.begin() as session:
            row = await session.get(IdTagRow, id_tag)
            if row is None:
                return False
            await session.delete(row)
        self._id_tags.pop(id_tag, None)
        return True

    async def id_tag(self, id_tag: str, now: datetime) -> IdTagStatus:
        """An id tag for Authorize and transactions. Read from memory for ID_TAG_TTL_S once read: changes made
        through this store apply at once, changes made by another instance within that time."""
        cached = self._id_tags.get(id_tag)
        clock = time.monotonic()
        if cached is not None and clock - cached[1] < ID_TAG_TTL_S:
            known = cached[0]
        else:
            async with self._session() as session:
                row = await session.get(IdTagRow, id_tag)
            known = (row.status, row.expiry_date, row.parent_id_tag) if row is not None else None
            self._id_tags[id_tag] = (known, clock)
        if known is None:
            return IdTagStatus("Invalid", known=False)
        status, expiry_date, parent_id_tag = known
        if status == "Accepted" and expiry_date is not None and expiry_date <= now:
            status = "Expired"
        return IdTagStatus(status, expiry=expiry_date, group_id=parent_id_tag or None)

    async def id_tag_status(self, id_tag: str, now: datetime) -> str:
        return (await self.id_tag(id_tag, now)).status


def _day(minute: datetime) -> datetime:
    return minute.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _split_days(
    start: datetime, end: datetime
) -> tuple[list[tuple[datetime, datetime]], tuple[datetime, datetime] | None]:
    """[start, end) as partial days at its ends (read from minutes) and whole UTC days (from the day table)."""
    first = _day(start) if _day(start) == start.astimezone(UTC) else _day(start) + timedelta(days=1)
    last = _day(end)
    if first >= last:
        return [(start, end)], None
    edges = [(a, b) for a, b in ((start, first), (last, end)) if a < b]
    return edges, (first, last)


def _utc(value: datetime | str) -> datetime:
    """Aggregated columns come back raw (SQLite: text): as aware UTC datetimes."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _transaction_filter(
    query: Any,
    active: bool | None,
    charge_point_id: str | None,
    started_from: datetime | None,
    started_to: datetime | None,
    charge_point_ids: Collection[str] | None = None,
) -> Any:
    """`charge_point_ids`: only these chargers' transactions (a tenant's), None: all."""
    if charge_point_ids is not None:
        query = query.where(TransactionRow.charge_point_id.in_(sorted(charge_point_ids)))
    if active is True:
        query = query.where(TransactionRow.stop_ts.is_(None))
    elif active is False:
        query = query.where(TransactionRow.stop_ts.is_not(None))
    if charge_point_id is not None:
        query = query.where(TransactionRow.charge_point_id == charge_point_id)
    if started_from is not None:
        query = query.where(TransactionRow.start_ts >= started_from)
    if started_to is not None:
        query = query.where(TransactionRow.start_ts < started_to)
    return query


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@asynccontextmanager
async def open_store(url: str) -> AsyncIterator[Store]:
    """Open the database at `url`, migrate it to the newest schema, and close it on exit."""
    if url.startswith("sqlite") and ":///" in url and ":memory:" not in url:
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        # One connection: SQLite has a single writer, and a pool of them only
        # trades queueing in Python for "database is locked" errors under load.
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60, connect_args={"timeout": 30})
    else:
        # a storm of boots and starts queues for a connection rather than failing after the default 30 s
        engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, pool_timeout=120)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    try:
        await migrate(engine)
        yield Store(engine)
    finally:
        await engine.dispose()
