"""`coopgrid simulate modbus` as a user runs it: a separate process serving a SunSpec inverter and meter."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import UTC, datetime

import pytest

from gateway.modbus import Device, poll_sunspec_inverter, poll_sunspec_meter
from simulators.modbus import free_port
from solar.events import GridMeterReading, InverterPowerChanged
from solar.ingest import InverterSpec, ParkSpec, SolarIngest
from solar.meters import GridMeters, MeterSpec

pytestmark = pytest.mark.integration


async def test_simulate_modbus_serves_an_inverter_and_a_meter() -> None:
    inverter_port, meter_port = free_port(), free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "simulate",
        "modbus",
        "--inverter-port",
        str(inverter_port),
        "--meter-port",
        str(meter_port),
        "--base-load",
        "11,12,13",
        "--duration",
        "60",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    events: list[object] = []
    both = asyncio.Event()

    async def publish(event: object) -> None:
        events.append(event)
        if any(isinstance(e, GridMeterReading) for e in events) and any(
            isinstance(e, InverterPowerChanged) and e.power_w > 0 for e in events
        ):
            both.set()

    meters = GridMeters({"s": MeterSpec("s", "sunspec")}, publish, lambda: datetime.now(UTC))
    solar = SolarIngest(
        {"p": ParkSpec("p", "m", {"i": InverterSpec("i", 5000.0, adapter="modbus_sunspec")})},
        publish,
        lambda: datetime.now(UTC),
    )
    tasks = [
        asyncio.create_task(poll_sunspec_meter(Device("127.0.0.1", meter_port, 1, 0.2, "m"), meters, "s")),
        asyncio.create_task(poll_sunspec_inverter(Device("127.0.0.1", inverter_port, 1, 0.2, "i"), solar, "p", "i")),
    ]
    try:
        async with asyncio.timeout(45):  # the simulator process imports pvlib and reads its weather first
            await both.wait()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        process.terminate()
        out, _ = await process.communicate()
    reading = next(e for e in events if isinstance(e, GridMeterReading))
    assert reading.current_a == pytest.approx((11.0, 12.0, 13.0))
    assert "SunSpec inverter (model 103)" in out.decode()
