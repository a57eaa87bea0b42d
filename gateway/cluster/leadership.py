"""One scheduler: the instance that holds a PostgreSQL advisory lock leads; with SQLite, the one instance does."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)


async def hold_leadership(
    engine: AsyncEngine,
    lock_key: int,
    work: Callable[[], Coroutine[Any, Any, None]],
    *,
    poll_s: float = 2.0,
    on_change: Callable[[bool], None] | None = None,
) -> None:
    """Run `work` only while this process holds a PostgreSQL advisory lock (forever on SQLite).

    The lock lives as long as the database session holding it; the session is
    checked every `poll_s`, and `work` is cancelled as soon as it is lost.
    """
    if engine.dialect.name != "postgresql":
        if on_change:
            on_change(True)
        await work()
        return
    while True:
        try:
            async with engine.connect() as connection:
                while not (await connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key})).scalar():
                    await connection.commit()
                    await asyncio.sleep(poll_s)
                await connection.commit()
                log.info("cluster: this instance now runs the scheduler")
                if on_change:
                    on_change(True)
                async with asyncio.TaskGroup() as group:
                    worker = group.create_task(work())
                    try:
                        while not worker.done():
                            await asyncio.sleep(poll_s)
                            await connection.execute(text("SELECT 1"))
                            await connection.commit()
                    finally:
                        worker.cancel()
        except* (OSError, ConnectionError) as errors:
            log.warning("cluster: lost the database while leading (%s); retrying", errors.exceptions[0])
        except* Exception as errors:  # the driver's own connection errors
            log.warning("cluster: leadership session failed (%s); retrying", errors.exceptions[0])
        finally:
            if on_change:
                on_change(False)
        await asyncio.sleep(poll_s)
