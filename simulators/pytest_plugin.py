"""Pytest fixtures that start simulated fleets inside tests (a pytest plugin, registered as `coopgrid_simulators`).

Any project can use them against its own central system or broker once
CoopGrid is installed:

    async def test_my_csms(charger_fleet):
        async with charger_fleet("ws://127.0.0.1:9000/ocpp", count=3, speed=120) as fleet:
            await fleet.wait_connected()
            ...

    async def test_my_ingest(solar_parks):
        async with solar_parks("127.0.0.1", 1883, parks=2, inverters=3) as fleet:
            ...

Each fixture returns a factory of async context managers: the fleet runs in a
task while the block runs and is cancelled, cleanly, when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from simulators.clock import SimClock
from simulators.fleet import Fleet

DEFAULT_START = datetime(1990, 6, 14, 15, tzinfo=UTC)  # a clear early afternoon of the bundled TMY year


class RunningFleet:
    """A fleet running in the background, with waits a test needs."""

    def __init__(self, fleet: Fleet, task: asyncio.Task[None]) -> None:
        self.fleet = fleet
        self.task = task

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fleet, name)

    async def wait_for(self, predicate: Callable[[], bool], within_s: float = 30.0, what: str = "condition") -> None:
        deadline = asyncio.get_running_loop().time() + within_s
        while not predicate():
            if self.task.done():
                self.task.result()  # the fleet died: raise why
                raise AssertionError("the fleet stopped")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {what} within {within_s} s: {self.fleet.progress_line()}")
            await asyncio.sleep(0.05)

    async def wait_connected(self, within_s: float = 30.0) -> None:
        chargers = self.fleet.chargers
        await self.wait_for(lambda: all(c.connected for c in chargers), within_s, "all chargers connected")

    async def wait_charging(self, count: int | None = None, within_s: float = 30.0) -> None:
        wanted = len(self.fleet.chargers) if count is None else count

        def charging() -> bool:
            return sum(1 for c in self.fleet.chargers for k in c.connectors.values() if k.transaction_id) >= wanted

        await self.wait_for(charging, within_s, f"{wanted} transactions")


@asynccontextmanager
async def _running(fleet: Fleet) -> AsyncIterator[RunningFleet]:
    task = asyncio.create_task(fleet.run(duration_s=None))
    try:
        yield RunningFleet(fleet, task)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def charger_fleet() -> Callable[..., AbstractAsyncContextManager[RunningFleet]]:
    """Factory: `charger_fleet(url, count=2, protocol="1.6", speed=60, faults=..., plan=..., **options)`."""

    def factory(
        url: str,
        count: int = 2,
        *,
        speed: float = 60.0,
        start: datetime = DEFAULT_START,
        **options: Any,
    ) -> AbstractAsyncContextManager[RunningFleet]:
        fleet = Fleet.of_chargers(url, count, clock=SimClock(start, speed=speed), **options)
        return _running(fleet)

    return factory


@pytest.fixture
def solar_parks() -> Callable[..., AbstractAsyncContextManager[RunningFleet]]:
    """Factory: `solar_parks(host, port, parks=1, inverters=3, rated_power_w=5000, layout="native", speed=60, ...)`."""

    def factory(
        host: str,
        port: int,
        *,
        parks: int = 1,
        inverters: int = 3,
        speed: float = 60.0,
        start: datetime = DEFAULT_START,
        **options: Any,
    ) -> AbstractAsyncContextManager[RunningFleet]:
        fleet = Fleet.of_parks(host, port, parks, inverters, clock=SimClock(start, speed=speed), **options)
        return _running(fleet)

    return factory
