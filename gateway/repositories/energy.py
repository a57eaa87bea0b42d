"""Energy in SQL: one-minute solar and green intervals with their baselines, day rollups, the report and park
series queries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, cast, delete, func, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from gateway.db import (
    BatteryStockRow,
    GreenMinuteRow,
    ParkDayRow,
    SolarBaselineRow,
    SolarMinuteRow,
)
from solar.accounting import BUCKETS as BUCKET_SECONDS
from solar.accounting import Baseline


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


class EnergyRepository:
    """Held by the Store as `store.energy`."""

    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.engine = engine
        self._session = sessions

    async def add_minutes(
        self,
        solar: dict[tuple[str, datetime], float],
        baselines: dict[str, Baseline],
        green: list[tuple[str, datetime, float, float]],
        stocks: dict[str, dict[str, float]] | None = None,
    ) -> None:
        """Add drained minutes (solar per "park/inverter", green per park) and store the baselines and the
        batteries' stocks (battery -> park or "" for grey -> Wh, replacing what was stored), atomically."""
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
        day_sums: dict[tuple[str, datetime], list[float]] = {}
        for row in solar_rows:
            day_sums.setdefault((row["park_id"], _day(row["minute"])), [0.0, 0.0])[0] += row["wh"]
        for row in green_rows:
            day_sums.setdefault((row["park_id"], _day(row["minute"])), [0.0, 0.0])[1] += row["wh"]
        day_rows = [
            {"park_id": park, "day": day, "generated_wh": generated, "to_evs_wh": to_evs}
            for (park, day), (generated, to_evs) in day_sums.items()
        ]
        minutes, greens, days = SolarMinuteRow.__table__.c, GreenMinuteRow.__table__.c, ParkDayRow.__table__.c
        async with self.engine.begin() as connection:
            upsert = _Upsert(connection, pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert)
            await upsert(SolarMinuteRow, ["park_id", "inverter_id", "minute"], solar_rows, lambda new: {
                "wh": minutes.wh + new.wh})  # fmt: skip
            await upsert(SolarBaselineRow, ["park_id", "inverter_id"], base_rows, lambda new: {
                c: getattr(new, c) for c in ("ts", "energy_wh", "power_w")})  # fmt: skip
            await upsert(GreenMinuteRow, ["park_id", "minute"], green_rows, lambda new: {
                "wh": greens.wh + new.wh, "ev_wh": greens.ev_wh + new.ev_wh})  # fmt: skip
            await upsert(ParkDayRow, ["park_id", "day"], day_rows, lambda new: {
                "generated_wh": days.generated_wh + new.generated_wh,
                "to_evs_wh": days.to_evs_wh + new.to_evs_wh})  # fmt: skip
            if stocks:
                await connection.execute(delete(BatteryStockRow).where(BatteryStockRow.battery_id.in_(sorted(stocks))))
                rows = [
                    {"battery_id": b, "park_id": p, "wh": wh} for b, parts in stocks.items() for p, wh in parts.items()
                ]
                if rows:
                    await connection.execute(insert(BatteryStockRow), rows)

    async def load_stocks(self) -> dict[str, dict[str, float]]:
        """The batteries' stocks as last stored: battery -> park ("" = grey) -> Wh."""
        async with self._session() as session:
            rows = (await session.scalars(select(BatteryStockRow))).all()
        out: dict[str, dict[str, float]] = {}
        for row in rows:
            out.setdefault(row.battery_id, {})[row.park_id] = row.wh
        return out

    async def load_baselines(self) -> dict[str, Baseline]:
        async with self._session() as session:
            rows = (await session.scalars(select(SolarBaselineRow))).all()
        return {f"{r.park_id}/{r.inverter_id}": Baseline(r.ts, r.energy_wh, r.power_w) for r in rows}

    async def by_park(self, park_ids: list[str], start: datetime, end: datetime) -> dict[str, tuple[float, float]]:
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

    async def inverter_series(
        self, park_id: str, start: datetime, end: datetime, bucket: str
    ) -> dict[str, list[tuple[datetime, float]]]:
        """Each inverter of a park: (bucket start, generated Wh) over [start, end), grouped in SQL from the
        minutes (minute, 15min or hour buckets; the day table holds parks, not inverters)."""
        if bucket not in ("minute", "15min", "hour"):
            raise ValueError(f"inverter series come in minute, 15min or hour buckets, not {bucket!r}")
        key = self._bucket(SolarMinuteRow.minute, bucket).label("bucket")
        query = (
            select(SolarMinuteRow.inverter_id, key, func.sum(SolarMinuteRow.wh))
            .where(SolarMinuteRow.park_id == park_id, SolarMinuteRow.minute >= start, SolarMinuteRow.minute < end)
            .group_by(SolarMinuteRow.inverter_id, key)
        )
        series: dict[str, list[tuple[datetime, float]]] = {}
        async with self._session() as session:
            for inverter_id, at, wh in (await session.execute(query)).all():
                series.setdefault(inverter_id, []).append((datetime.fromtimestamp(int(at), UTC), float(wh or 0.0)))
        return {inverter: sorted(points) for inverter, points in sorted(series.items())}


class _Upsert:
    """Insert rows in batches of 500, adding to (or replacing) what a row with the same key holds."""

    def __init__(self, connection: AsyncConnection, insert: Any) -> None:
        self.connection = connection
        self.insert = insert

    async def __call__(
        self, row_class: Any, keys: list[str], rows: list[dict[str, Any]], update: Callable[[Any], dict[str, Any]]
    ) -> None:
        if not rows:
            return
        statement = self.insert(row_class)
        statement = statement.on_conflict_do_update(index_elements=keys, set_=update(statement.excluded))
        for start in range(0, len(rows), 500):
            await self.connection.execute(statement, rows[start : start + 500])
