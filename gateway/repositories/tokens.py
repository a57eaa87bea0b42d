"""API tokens in SQL: only their SHA-256 is kept; expiry, revocation and last-used time."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth import LAST_USED_EVERY, TokenInfo
from gateway.db import ApiTokenRow


class TokenRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._session = sessions
        self._token_used: dict[int, datetime] = {}  # token id -> last-used time this process wrote or saw

    _INT32_MAX = 2**31 - 1

    async def create(
        self,
        name: str,
        role: str,
        cooperative_id: str | None,
        digest: str,
        now: datetime,
        expires: datetime | None = None,
    ) -> int:
        """Store a token by its digest; its id (what `list` shows and `revoke` takes)."""
        async with self._session.begin() as session:
            row = ApiTokenRow(
                name=name, role=role, cooperative_id=cooperative_id, token_sha256=digest, created=now, expires=expires
            )
            session.add(row)
            await session.flush()
            return row.id

    async def find(self, digest: str, now: datetime | None = None) -> tuple[str, str | None, str] | None:
        """(role, cooperative id, name) of the active token with this digest; None when unknown, revoked or
        expired. Records when it was used, at most once a minute per token (a busy client does not write on
        every request; the condition in SQL also holds across instances)."""
        now = now or datetime.now(UTC)
        columns = (
            ApiTokenRow.id,
            ApiTokenRow.role,
            ApiTokenRow.cooperative_id,
            ApiTokenRow.name,
            ApiTokenRow.expires,
            ApiTokenRow.revoked,
            ApiTokenRow.last_used,
        )
        async with self._session() as session:
            row = (await session.execute(select(*columns).where(ApiTokenRow.token_sha256 == digest))).first()
        if row is None or row.revoked is not None or (row.expires is not None and row.expires <= now):
            return None
        seen = max(filter(None, (row.last_used, self._token_used.get(row.id))), default=None)
        if seen is None or now - seen >= LAST_USED_EVERY:
            self._token_used[row.id] = now  # before the write: concurrent requests do not write it again
            due = or_(ApiTokenRow.last_used.is_(None), ApiTokenRow.last_used <= now - LAST_USED_EVERY)
            async with self._session.begin() as session:
                await session.execute(update(ApiTokenRow).where(ApiTokenRow.id == row.id, due).values(last_used=now))
        return (row.role, row.cooperative_id, row.name)

    @staticmethod
    def _token_info(row: ApiTokenRow) -> TokenInfo:
        return TokenInfo(
            id=row.id,
            name=row.name,
            role=row.role,  # type: ignore[arg-type]
            cooperative_id=row.cooperative_id,
            created=row.created,
            expires=row.expires,
            revoked=row.revoked,
            last_used=row.last_used,
        )

    async def get(self, token_id: int) -> TokenInfo | None:
        if not 0 < token_id <= self._INT32_MAX:  # ids are SQL integers: nothing beyond them exists
            return None
        async with self._session() as session:
            row = await session.get(ApiTokenRow, token_id)
            return self._token_info(row) if row else None

    async def list(self) -> list[TokenInfo]:
        """Every token ever created, revoked and expired ones included, oldest first."""
        async with self._session() as session:
            rows = (await session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.id))).all()
        return [self._token_info(row) for row in rows]

    async def revoke(self, token_id: int, now: datetime | None = None) -> bool:
        """Revoke a token at once and for good; False when there is no such token. Revoking a revoked token
        keeps the first revocation time."""
        if not 0 < token_id <= self._INT32_MAX:
            return False
        now = now or datetime.now(UTC)
        async with self._session.begin() as session:
            row = await session.get(ApiTokenRow, token_id)
            if row is None:
                return False
            if row.revoked is None:
                row.revoked = now
        self._token_used.pop(token_id, None)
        return True
