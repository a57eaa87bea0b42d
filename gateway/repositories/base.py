"""What every SQL repository shares: the engine and its session factory (set up by gateway.storage.Store)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker


class SqlBase:
    engine: AsyncEngine
    _session: async_sessionmaker[AsyncSession]
