"""Charger-reported events in SQL (firmware, diagnostics, security, data transfer, foreign transactions):
chargepoints.ports.EventLog."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db import ChargerEventRow


class EventRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._session = sessions

    async def record_event(self, charge_point_id: str, ts: datetime, kind: str, payload: dict[str, object]) -> None:
        async with self._session.begin() as session:
            session.add(ChargerEventRow(charge_point_id=charge_point_id, ts=ts, kind=kind, payload=payload))

    async def count(self, charge_point_id: str) -> int:
        query = (
            select(func.count()).select_from(ChargerEventRow).where(ChargerEventRow.charge_point_id == charge_point_id)
        )
        async with self._session() as session:
            return int((await session.scalar(query)) or 0)

    async def list(self, charge_point_id: str, limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
        query = (
            select(ChargerEventRow)
            .where(ChargerEventRow.charge_point_id == charge_point_id)
            .order_by(ChargerEventRow.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self._session() as session:
            rows = (await session.scalars(query)).all()
        return [
            {"ts": row.ts.isoformat().replace("+00:00", "Z"), "kind": row.kind, "payload": row.payload} for row in rows
        ]

    async def latest(self, charge_point_id: str, kind: str) -> dict[str, Any] | None:
        """The charger's newest event of `kind` (ts and payload), or None."""
        query = (
            select(ChargerEventRow)
            .where(ChargerEventRow.charge_point_id == charge_point_id, ChargerEventRow.kind == kind)
            .order_by(ChargerEventRow.id.desc())
            .limit(1)
        )
        async with self._session() as session:
            row = await session.scalar(query)
        return None if row is None else {"ts": row.ts.isoformat().replace("+00:00", "Z"), "payload": row.payload}
