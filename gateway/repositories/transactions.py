"""Transactions in SQL: each bound to the charger that owns it, idempotent starts and stops, meter registers
written behind, the 2.0.1 device model, the REST queries."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from chargepoints.ports import TransactionRecord
from gateway.db import (
    ChargerRow,
    DeviceVariableRow,
    TransactionRow,
    UnmatchedStopRow,
)
from gateway.repositories.accounts import billing_of
from gateway.repositories.base import SqlBase


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
        account_id=row.account_id,
        tariff_id=row.tariff_id,
        awaiting_since=row.awaiting_messages_since,
        ev_needs=row.ev_needs,
        priority_charging=bool(row.priority_charging),
    )


def _transaction_filter(
    query: Any,
    active: bool | None,
    charge_point_id: str | None,
    started_from: datetime | None,
    started_to: datetime | None,
    charge_point_ids: Collection[str] | None = None,
    account_id: str | None = None,
) -> Any:
    """`charge_point_ids`: only these chargers' transactions (a tenant's), None: all."""
    if account_id is not None:
        query = query.where(TransactionRow.account_id == account_id)
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


def _higher(new: Any) -> Any:
    return case((TransactionRow.meter_last_wh > new, TransactionRow.meter_last_wh), else_=new)


class TransactionStore(SqlBase):
    async def set_session_mode(
        self, transaction_id: int, mode: str, priority: int, target_wh: float | None, departure_ts: datetime | None
    ) -> None:
        async with self._session.begin() as session:
            row = await session.get(TransactionRow, transaction_id)
            if row is not None:
                row.mode, row.priority, row.target_wh, row.departure_ts = mode, priority, target_wh, departure_ts

    async def set_ev_needs(self, transaction_id: int, ev_needs: dict[str, Any]) -> None:
        """The EV's ISO 15118 charging needs (its range, 2.1's V2X parameters), the newest it told."""
        async with self._session.begin() as session:
            row = await session.get(TransactionRow, transaction_id)
            if row is not None:
                row.ev_needs = ev_needs

    async def set_priority_charging(self, transaction_id: int, active: bool) -> None:
        """OCPP 2.1 priority charging on or off for a session (its mode is kept: it returns to it)."""
        async with self._session.begin() as session:
            row = await session.get(TransactionRow, transaction_id)
            if row is not None:
                row.priority_charging = active

    async def set_session_tariff(self, transaction_id: int, tariff_id: str) -> None:
        """The tariff a session is priced at from now on (OCPP 2.1 ChangeTransactionTariff taken)."""
        async with self._session.begin() as session:
            row = await session.get(TransactionRow, transaction_id)
            if row is not None:
                row.tariff_id = tariff_id

    # -- transactions ---------------------------------------------------------------
    async def reserve_transaction_ids(self, count: int) -> list[int]:
        """`count` transaction ids taken from the database's own counter (the PostgreSQL sequence, SQLite's
        AUTOINCREMENT record), so that rows stored later with or without them never collide; another instance
        reserving at the same time gets others."""
        if self.engine.dialect.name == "postgresql":
            async with self.engine.begin() as connection:
                result = await connection.execute(
                    text("SELECT nextval(pg_get_serial_sequence('transactions', 'id')) FROM generate_series(1, :n)"),
                    {"n": count},
                )
                return sorted(int(value) for (value,) in result)
        async with self.engine.begin() as connection:  # SQLite: one writer, so read-then-bump is atomic
            sequence = text("SELECT seq FROM sqlite_sequence WHERE name = 'transactions'")
            found = (await connection.execute(sequence)).first()
            highest = (await connection.execute(select(func.max(TransactionRow.id)))).scalar() or 0
            first = max(int(found[0]) if found else 0, int(highest)) + 1
            if found is None:
                statement = "INSERT INTO sqlite_sequence (name, seq) VALUES ('transactions', :seq)"
            else:
                statement = "UPDATE sqlite_sequence SET seq = :seq WHERE name = 'transactions'"
            await connection.execute(text(statement), {"seq": first + count - 1})
            return list(range(first, first + count))

    def _charger_if_missing(self, charge_point_id: str) -> Any:
        """INSERT ... ON CONFLICT DO NOTHING: a boot's write-behind (or another instance) may store it meanwhile."""
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        statement = insert(ChargerRow).values(id=charge_point_id, registration="Accepted")
        return statement.on_conflict_do_nothing(index_elements=[ChargerRow.id])

    async def start_transaction(
        self,
        charge_point_id: str,
        connector_id: int,
        id_tag: str,
        meter_start_wh: float,
        ts: datetime,
        *,
        transaction_id: int | None = None,
    ) -> tuple[TransactionRecord, bool]:
        """`transaction_id`: one reserved earlier (reserve_transaction_ids), given while the database was away."""
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
            account_id, tariff_id = await billing_of(session, charge_point_id, id_tag)
            row = TransactionRow(
                id=transaction_id,
                account_id=account_id,
                tariff_id=tariff_id,
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
        *,
        transaction_id: int | None = None,
    ) -> tuple[TransactionRecord, bool]:
        existing = await self.find_transaction_201(charge_point_id, ocpp_transaction_id)
        if existing is not None:
            return existing, False
        async with self._session() as session:
            await session.execute(self._charger_if_missing(charge_point_id))
            account_id, tariff_id = await billing_of(session, charge_point_id, id_tag)
            row = TransactionRow(
                id=transaction_id,
                account_id=account_id,
                tariff_id=tariff_id,
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

    async def set_green_energy(self, transaction_id: int, green_wh: float) -> bool:
        """False when there is no such transaction (yet: one answered while the database was away)."""
        async with self._session.begin() as session:
            row = await session.get(TransactionRow, transaction_id)
            if row is not None:
                row.green_energy_wh = green_wh
            return row is not None

    async def set_seq_no(self, transaction_id: int, seq_no: int) -> None:
        async with self._session.begin() as session:
            row = await session.get(TransactionRow, transaction_id)
            if row is not None:
                row.last_seq_no = seq_no

    async def set_awaiting_messages(self, transaction_id: int, since: datetime | None) -> None:
        async with self._session.begin() as session:
            row = await session.get(TransactionRow, transaction_id)
            if row is not None:
                row.awaiting_messages_since = since

    async def open_transactions(self, charge_point_id: str) -> list[TransactionRecord]:
        query = select(TransactionRow).where(
            TransactionRow.charge_point_id == charge_point_id, TransactionRow.stop_ts.is_(None)
        )
        async with self._session() as session:
            return [_transaction(row) for row in (await session.scalars(query.order_by(TransactionRow.id))).all()]

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
                same = select(UnmatchedStopRow.id).where(
                    UnmatchedStopRow.charge_point_id == charge_point_id,
                    UnmatchedStopRow.transaction_id == transaction_id,
                    UnmatchedStopRow.stop_ts == ts,
                    UnmatchedStopRow.meter_stop_wh == meter_stop_wh,
                )
                if (await session.scalars(same)).first() is not None:  # a resent one (or a journal written twice)
                    return None, False
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

    async def record_meters(self, registers: dict[int, float], *, only_higher: bool = False) -> None:
        """One UPDATE ... CASE statement per 500 transactions: a flush costs one round trip, not one per row.
        `only_higher`: never lower a stored register (a journal written late, after newer ones were stored)."""
        if not registers:
            return
        items = sorted(registers.items())
        async with self.engine.begin() as connection:
            for start in range(0, len(items), 500):
                chunk = dict(items[start : start + 500])
                statement = (
                    update(TransactionRow)
                    .where(TransactionRow.id.in_(list(chunk)), TransactionRow.stop_ts.is_(None))
                    .values(
                        meter_last_wh=_higher(case(chunk, value=TransactionRow.id))
                        if only_higher
                        else case(chunk, value=TransactionRow.id)
                    )  # fmt: skip
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
        account_id: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[TransactionRecord]:
        """Newest first; the filters combine."""
        query = _transaction_filter(
            select(TransactionRow), active, charge_point_id, started_from, started_to, charge_point_ids, account_id
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

    async def count_unmatched_stops(self) -> int:
        async with self._session() as session:
            return len((await session.scalars(select(UnmatchedStopRow.id))).all())
