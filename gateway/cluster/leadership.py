"""One scheduler: the instance that holds a PostgreSQL advisory lock leads; with SQLite, the one instance does.

A failure of the scheduler itself (an exception out of `work`) is not retried in silence: it is logged
with its traceback, reported to `on_failure` (counted in /metrics), and leadership is released at once
(the lock is unlocked and its connection dropped), so that another instance can take over. This instance
competes again only after a back-off that doubles with each failure in a row (up to `max_backoff_s`).
With SQLite, the one instance does the same without a lock. Losing the database while leading is not a
failure of the scheduler: leadership is given up and sought again after `poll_s`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)


class _WorkFailed(Exception):
    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


async def _run_work(work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        await work()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise _WorkFailed(exc) from exc
    raise _WorkFailed(RuntimeError("the scheduler returned"))


async def _release(connection: AsyncConnection, lock_key: int) -> None:
    """Unlock and drop the session, so the lock is free even if the unlock itself fails."""
    try:
        await connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key})
        await connection.commit()
    except Exception:
        log.debug("cluster: unlock failed; the dropped session frees the lock", exc_info=True)
    try:
        await connection.invalidate()
    except Exception:
        log.debug("cluster: session not invalidated", exc_info=True)


async def hold_leadership(
    engine: AsyncEngine,
    lock_key: int,
    work: Callable[[], Coroutine[Any, Any, None]],
    *,
    poll_s: float = 2.0,
    on_change: Callable[[bool], None] | None = None,
    on_failure: Callable[[BaseException], None] | None = None,
    backoff_s: float = 5.0,
    max_backoff_s: float = 60.0,
) -> None:
    """Run `work` only while this process holds a PostgreSQL advisory lock (on SQLite: while it has not failed).

    The lock lives as long as the database session holding it; the session is checked every `poll_s`,
    and `work` is cancelled as soon as it is lost.
    """
    failures = 0
    while True:
        delay = poll_s
        try:
            if engine.dialect.name != "postgresql":
                if on_change:
                    on_change(True)
                await _run_work(work)
            else:
                await _lead_once(engine, lock_key, work, poll_s, on_change)
            failures = 0
        except* _WorkFailed as group:
            first = group.exceptions[0]
            error = first.error if isinstance(first, _WorkFailed) else first
            failures += 1
            delay = min(max_backoff_s, backoff_s * 2 ** (failures - 1))
            log.error(
                "cluster: the scheduler failed (%d in a row); leadership released, seeking it again in %.0f s",
                failures,
                delay,
                exc_info=error,
            )
            if on_failure:
                on_failure(error)
        except* (OSError, ConnectionError) as errors:
            log.warning("cluster: lost the database while leading (%s); retrying", errors.exceptions[0])
        except* Exception as errors:  # the driver's own connection errors
            log.warning("cluster: leadership session failed (%s); retrying", errors.exceptions[0], exc_info=True)
        finally:
            if on_change:
                on_change(False)
        await asyncio.sleep(delay)


async def _lead_once(
    engine: AsyncEngine,
    lock_key: int,
    work: Callable[[], Coroutine[Any, Any, None]],
    poll_s: float,
    on_change: Callable[[bool], None] | None,
) -> None:
    async with engine.connect() as connection:
        while not (await connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key})).scalar():
            await connection.commit()
            await asyncio.sleep(poll_s)
        await connection.commit()
        log.info("cluster: this instance now runs the scheduler")
        if on_change:
            on_change(True)
        try:
            async with asyncio.TaskGroup() as group:
                worker = group.create_task(_run_work(work))
                try:
                    while not worker.done():
                        await asyncio.sleep(poll_s)
                        await connection.execute(text("SELECT 1"))
                        await connection.commit()
                finally:
                    worker.cancel()
        except BaseException:
            await _release(connection, lock_key)
            raise
