"""Is the database there? A probe on a connection of its own, outside the pool.

No pooled connection within the pool's timeout may mean the database is away, or only that this process
is too busy to use its connections (a reconnect storm): `SELECT 1` on a fresh connection tells which. One
probe runs at a time and its answer is kept PROBE_VALID_S, so a thousand callers that time out together
cost one connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

PROBE_TIMEOUT_S = 10.0
PROBE_VALID_S = 5.0


class DatabaseProbe:
    def __init__(self, engine: object, is_outage: Callable[[BaseException], bool]) -> None:
        """`engine`: the store's (no AsyncEngine: never answers); `is_outage`: which errors mean "away"."""
        self._url = engine.url if isinstance(engine, AsyncEngine) else None
        self._is_outage = is_outage
        self._lock = asyncio.Lock()
        self._last: tuple[float, bool] | None = None  # (when, whether the database answered)
        self._engine: AsyncEngine | None = None

    async def answers(self) -> bool:
        """Whether the database answers `SELECT 1` on a connection outside the pool within PROBE_TIMEOUT_S."""
        if self._url is None:
            return False
        async with self._lock:
            loop = asyncio.get_running_loop()
            if self._last is not None and loop.time() - self._last[0] < PROBE_VALID_S:
                return self._last[1]
            if self._engine is None:
                self._engine = create_async_engine(self._url, poolclass=NullPool)
            try:
                async with asyncio.timeout(PROBE_TIMEOUT_S), self._engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
                answered = True
            except Exception as exc:
                if not self._is_outage(exc):
                    raise
                answered = False
            self._last = (loop.time(), answered)
            return answered
