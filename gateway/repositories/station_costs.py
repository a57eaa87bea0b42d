"""OCPP 2.1 stations' own costs of their sessions (TransactionEvent costDetails), in SQL."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db import StationCostRow


class StationCostRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._session = sessions

    async def put(self, transaction_id: int, summary: dict[str, Any], details: dict[str, Any], at: datetime) -> None:
        """The station's newest report for the session replaces the one before."""
        async with self._session.begin() as session:
            row = await session.get(StationCostRow, transaction_id)
            if row is None:
                row = StationCostRow(transaction_id=transaction_id)
                session.add(row)
            row.reported_at = at
            row.currency = str(summary.get("currency", ""))[:3]
            row.incl_tax = summary.get("incl_tax")
            row.excl_tax = summary.get("excl_tax")
            row.summary = summary
            row.details = details

    async def of(self, transaction_ids: Collection[int]) -> dict[int, dict[str, Any]]:
        """transaction id -> what its station reported (summary, when, the costDetails); those with none left out."""
        if not transaction_ids:
            return {}
        query = select(StationCostRow).where(StationCostRow.transaction_id.in_(sorted(transaction_ids)))
        async with self._session() as session:
            rows = (await session.scalars(query)).all()
        return {
            row.transaction_id: {**row.summary, "reported_at": row.reported_at, "cost_details": row.details}
            for row in rows
        }
