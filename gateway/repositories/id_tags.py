"""Id tags in SQL, answered in neutral terms (IdTagStatus), from memory for ID_TAG_TTL_S once read."""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import func, select

from chargepoints.ports import IdTagStatus
from gateway.db import (
    IdTagChangeRow,
    IdTagRow,
)
from gateway.repositories.base import SqlBase


def _id_tag(row: IdTagRow) -> dict[str, object]:
    return {
        "id_tag": row.id_tag,
        "status": row.status,
        "expiry_date": row.expiry_date.isoformat().replace("+00:00", "Z") if row.expiry_date else None,
        "group_id": row.parent_id_tag,
        "type": row.type,
        "account_id": row.account_id,
    }


ID_TAG_TTL_S = 30.0


class IdTagStore(SqlBase):
    _id_tags: dict[str, tuple[tuple[str, datetime | None, str | None] | None, float]]

    # -- id tags ------------------------------------------------------------------
    async def put_id_tag(
        self,
        id_tag: str,
        status: str,
        expiry_date: datetime | None = None,
        parent_id_tag: str | None = None,
        type_: str | None = None,
        account_id: str | None = None,
    ) -> bool:
        """Create or replace an id tag; True when it was created."""
        async with self._session.begin() as session:
            row = await session.get(IdTagRow, id_tag)
            created = row is None
            if row is None:
                row = IdTagRow(id_tag=id_tag)
                session.add(row)
            before = (row.status, row.expiry_date, row.parent_id_tag, row.type)
            row.status = status
            row.expiry_date = expiry_date
            row.parent_id_tag = parent_id_tag
            row.type = type_
            row.account_id = account_id
            if created or before != (status, expiry_date, parent_id_tag, type_):
                session.add(IdTagChangeRow(id_tag=id_tag))  # a new version of the local list
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
            session.add(IdTagChangeRow(id_tag=id_tag))
        self._id_tags.pop(id_tag, None)
        return True

    # -- the local authorization list's versions ---------------------------------------------------------
    async def id_tag_version(self) -> int:
        """The newest change's version (0: the table never changed)."""
        async with self._session() as session:
            return int(await session.scalar(select(func.max(IdTagChangeRow.version))) or 0)

    async def id_tag_changes_since(self, version: int) -> tuple[int, int, list[tuple[str, dict[str, object] | None]]]:
        """(oldest version kept, newest version, [(id tag, its row now or None when deleted)]) of the tags
        changed after `version`."""
        async with self._session() as session:
            oldest = int(await session.scalar(select(func.min(IdTagChangeRow.version))) or 0)
            newest = int(await session.scalar(select(func.max(IdTagChangeRow.version))) or 0)
            changed = (
                await session.scalars(select(IdTagChangeRow.id_tag).where(IdTagChangeRow.version > version).distinct())
            ).all()
            out: list[tuple[str, dict[str, object] | None]] = []
            for id_tag in sorted(changed):
                row = await session.get(IdTagRow, id_tag)
                out.append((id_tag, _id_tag(row) if row is not None else None))
        return oldest, newest, out

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
        return _status(known, now)

    def cached_id_tag(self, id_tag: str, now: datetime) -> IdTagStatus | None:
        """What was last read of an id tag, however old; None when it was never read (the database is away)."""
        cached = self._id_tags.get(id_tag)
        return None if cached is None else _status(cached[0], now)

    async def warm_id_tags(self) -> int:
        """Read every id tag into memory in one query, so that each is known while the database is away."""
        async with self._session() as session:
            rows = (await session.scalars(select(IdTagRow))).all()
        clock = time.monotonic()
        for row in rows:
            self._id_tags[row.id_tag] = ((row.status, row.expiry_date, row.parent_id_tag), clock)
        return len(rows)

    async def id_tag_status(self, id_tag: str, now: datetime) -> str:
        return (await self.id_tag(id_tag, now)).status


def _status(known: tuple[str, datetime | None, str | None] | None, now: datetime) -> IdTagStatus:
    if known is None:
        return IdTagStatus("Invalid", known=False)
    status, expiry_date, parent_id_tag = known
    if status == "Accepted" and expiry_date is not None and expiry_date <= now:
        status = "Expired"
    return IdTagStatus(status, expiry=expiry_date, group_id=parent_id_tag or None)
