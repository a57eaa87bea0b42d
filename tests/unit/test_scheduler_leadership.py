"""A failing scheduler surfaces (issue 16): logged with its traceback, counted in /metrics, leadership
released so that another instance takes over; no silent retry loop. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.cluster.leadership import hold_leadership
from gateway.metrics import Metrics
from tests.integration.test_scale_out import fresh_database, wait_until

LOCK = 0x5EED


def failing_once(calls: list[str]) -> Callable[[], Coroutine[Any, Any, None]]:
    async def work() -> None:
        calls.append("run")
        if len(calls) == 1:
            raise RuntimeError("boom in the scheduler")
        await asyncio.Event().wait()

    return work


async def test_a_failure_on_sqlite_is_logged_counted_and_leadership_released(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'l.db'}")
    metrics = Metrics()
    changes: list[bool] = []
    calls: list[str] = []
    task = asyncio.create_task(
        hold_leadership(
            engine, LOCK, failing_once(calls), on_change=changes.append, on_failure=metrics.scheduler_failed,
            poll_s=0.05, backoff_s=0.2,
        )
    )  # fmt: skip
    try:
        with caplog.at_level(logging.ERROR, logger="gateway.cluster.leadership"):
            await wait_until(lambda: len(calls) == 2, within_s=5)
        assert changes == [True, False, True]  # released, then sought again after the back-off
        failed = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(failed) == 1
        assert failed[0].exc_info is not None
        assert "boom in the scheduler" in caplog.text
        assert "Traceback" in caplog.text
        assert "coopgrid_scheduler_failures_total 1.0" in generate_latest(metrics.registry).decode()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.dispose()


async def test_a_failing_leader_on_postgresql_hands_over_to_the_other_instance(postgres_url: str) -> None:
    database = await fresh_database(postgres_url)
    engines = [create_async_engine(database), create_async_engine(database)]
    failures: list[BaseException] = []
    leading = {"a": False, "b": False}
    calls_a: list[str] = []
    b_ran = asyncio.Event()

    async def work_b() -> None:
        b_ran.set()
        await asyncio.Event().wait()

    def change(name: str) -> Callable[[bool], None]:
        return lambda value: leading.__setitem__(name, value)

    a = asyncio.create_task(
        hold_leadership(
            engines[0], LOCK, failing_once(calls_a), on_change=change("a"), on_failure=failures.append,
            poll_s=0.1, backoff_s=30.0,
        )
    )  # fmt: skip
    try:
        await wait_until(lambda: bool(calls_a), within_s=10)
        b = asyncio.create_task(hold_leadership(engines[1], LOCK, work_b, on_change=change("b"), poll_s=0.1))
        try:
            await asyncio.wait_for(b_ran.wait(), 5)  # the lock was released, not kept by a pooled session
            assert leading == {"a": False, "b": True}
            assert [type(e) for e in failures] == [RuntimeError]
        finally:
            b.cancel()
            await asyncio.gather(b, return_exceptions=True)
    finally:
        a.cancel()
        await asyncio.gather(a, return_exceptions=True)
        for engine in engines:
            await engine.dispose()
