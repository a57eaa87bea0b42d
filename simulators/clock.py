"""Simulated time: a start instant and a speed (simulated seconds per real second)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta


class SimClock:
    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        if start.tzinfo is None:
            raise ValueError("SimClock needs a timezone-aware start")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self._real_start = time.monotonic()

    def elapsed_s(self) -> float:
        """Simulated seconds since start."""
        return (time.monotonic() - self._real_start) * self.speed

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed_s())

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(max(0.0, sim_seconds) / self.speed)

    async def sleep_until(self, sim_elapsed_s: float) -> None:
        await self.sleep(sim_elapsed_s - self.elapsed_s())
