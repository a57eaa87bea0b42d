"""Reservations in SQL: chargepoints.ports.Reservations and the REST queries."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargepoints.reservations import ACTIVE, USED, Reservation
from gateway.db import ReservationRow
from gateway.journal import is_outage

log = logging.getLogger(__name__)


def _reservation(row: ReservationRow) -> Reservation:
    return Reservation(
        id=row.id,
        charge_point_id=row.charge_point_id,
        connector_id=row.connector_id,
        id_tag=row.id_tag,
        expiry_ts=row.expiry_ts,
        status=row.status,
        parent_id_tag=row.parent_id_tag,
        id_token_type=row.id_token_type,
        charger_status=row.charger_status,
        transaction_id=row.transaction_id,
    )


class ReservationRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._session = sessions
        self._last_active: dict[str, list[Reservation]] = {}  # charger -> as last read

    async def create(
        self,
        charge_point_id: str,
        connector_id: int,
        id_tag: str,
        expiry_ts: datetime,
        now: datetime,
        *,
        status: str,
        parent_id_tag: str | None = None,
        id_token_type: str = "Central",
    ) -> Reservation:
        """A new reservation; its id (autoincrement, never reused) is the OCPP reservation id."""
        async with self._session.begin() as session:
            row = ReservationRow(
                charge_point_id=charge_point_id,
                connector_id=connector_id,
                id_tag=id_tag,
                parent_id_tag=parent_id_tag,
                id_token_type=id_token_type,
                expiry_ts=expiry_ts,
                created_ts=now,
                status=status,
            )
            session.add(row)
            await session.flush()
            return _reservation(row)

    async def get(self, reservation_id: int) -> Reservation | None:
        async with self._session() as session:
            row = await session.get(ReservationRow, reservation_id)
            return _reservation(row) if row else None

    async def listed(self, charge_point_id: str | None = None) -> list[Reservation]:
        query = select(ReservationRow).order_by(ReservationRow.id)
        if charge_point_id is not None:
            query = query.where(ReservationRow.charge_point_id == charge_point_id)
        async with self._session() as session:
            return [_reservation(row) for row in (await session.scalars(query)).all()]

    async def active(self, charge_point_id: str) -> list[Reservation]:
        """A charger's active reservations; while the database is away, as last read (transactions go on)."""
        query = select(ReservationRow).where(
            ReservationRow.charge_point_id == charge_point_id, ReservationRow.status == ACTIVE
        )
        try:
            async with self._session() as session:
                found = [_reservation(row) for row in (await session.scalars(query)).all()]
        except Exception as exc:
            if not is_outage(exc):
                raise
            return list(self._last_active.get(charge_point_id, []))
        self._last_active[charge_point_id] = found
        return found

    async def settle(self, reservation_id: int, status: str, charger_status: str | None = None) -> Reservation | None:
        """Set what became of a reservation (and the charger's answer, when it gave one)."""
        async with self._session.begin() as session:
            row = await session.get(ReservationRow, reservation_id)
            if row is None:
                return None
            row.status = status
            if charger_status is not None:
                row.charger_status = charger_status
            return _reservation(row)

    async def use(self, charge_point_id: str, reservation_id: int, transaction_id: int) -> bool:
        try:
            async with self._session.begin() as session:
                row = await session.get(ReservationRow, reservation_id)
                if row is None or row.charge_point_id != charge_point_id:
                    return False
                row.status, row.transaction_id = USED, transaction_id
        except Exception as exc:
            if not is_outage(exc):
                raise
            # the transaction is answered and journaled; the reservation ends when it expires
            log.warning("database away: reservation %s not marked used by transaction %s", reservation_id,
                        transaction_id)  # fmt: skip
            return False
        self._last_active.pop(charge_point_id, None)
        return True

    async def set_status(self, charge_point_id: str, reservation_id: int, status: str) -> None:
        async with self._session.begin() as session:
            row = await session.get(ReservationRow, reservation_id)
            if row is not None and row.charge_point_id == charge_point_id and row.status == ACTIVE:
                row.status = status
