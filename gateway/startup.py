"""Start-up against services that may not be there yet: the database is retried with backoff.

In a compose stack or after a reboot, PostgreSQL often answers a few seconds after CoopGrid starts.
`open_retrying` enters a resource's context manager, and while the failure is one of a service not
(yet) reachable, logs one line and tries again after a growing pause (`[startup]` in the settings).
Any other failure of the service (a wrong password, an unknown database, an unwritable SQLite file)
becomes a `StartupError` with a one-line message: the CLI prints it and exits with code 1.
(The broker needs none of this: the bus connects in the background and reconnects with backoff.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TypeVar

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from gateway.settings import StartupSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

# What a service that is down, starting or full answers (asyncpg: "the database system is starting up").
_UNREACHABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)
# What a service that is there but refuses us answers: said once, in one line.
_REFUSED = (OSError, DBAPIError, asyncpg.PostgresError)


class StartupError(Exception):
    """A service CoopGrid needs cannot be used; the message is one line for the operator."""


class StartupStopped(Exception):  # noqa: N818 - not an error: a stop asked for while waiting
    """The stop event was set while start-up waited for a service."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)  # SQLAlchemy's wrapper around the driver's error
        current = orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)


def unreachable(exc: BaseException) -> bool:
    """The failure is one of a server not (yet) reachable: worth waiting for."""
    return any(isinstance(e, _UNREACHABLE) and not isinstance(e, PermissionError) for e in _chain(exc))


def refused(exc: BaseException) -> bool:
    """The failure is the service's (or the network's) answer, not a fault of CoopGrid's."""
    return any(isinstance(e, _REFUSED) for e in _chain(exc))


def reason(exc: BaseException) -> str:
    """The driver's own words for a failure, in one line."""
    inner = list(_chain(exc))[-1]
    text = " ".join(str(inner).split()) or type(inner).__name__
    return f"{type(inner).__name__}: {text}"[:300]


def database_label(url: str) -> str:
    """The database URL without its password, for a log line."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


async def open_retrying(
    stack: AsyncExitStack,
    opener: Callable[[], AbstractAsyncContextManager[T]],
    *,
    what: str,
    settings: StartupSettings,
    retry: bool = True,
    stop: asyncio.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Enter `opener()` in `stack`; while the service is unreachable (and `retry`), wait and try again."""
    delay = settings.retry_initial_s
    started = clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await stack.enter_async_context(opener())
        except Exception as exc:
            if not refused(exc):
                raise
            waited = clock() - started
            if not (retry and unreachable(exc)):
                raise StartupError(f"{what}: {reason(exc)}") from exc
            if settings.retry_for_s and waited + delay > settings.retry_for_s:
                raise StartupError(
                    f"{what} unreachable for {waited:.0f} s after {attempt} attempts, giving up "
                    f"(startup.retry_for_s = {settings.retry_for_s:g}): {reason(exc)}"
                ) from exc
            log.warning("%s unreachable (%s); attempt %d, retrying in %.1f s", what, reason(exc), attempt, delay)
        if stop is None:
            await asyncio.sleep(delay)
        else:
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass
            else:
                raise StartupStopped
        delay = min(delay * 2, settings.retry_max_s)
