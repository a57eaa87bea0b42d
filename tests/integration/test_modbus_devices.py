"""The Modbus pollers (gateway.modbus) against the pymodbus simulators over real loopback sockets:
discovery, scale factors, a meter that stops answering, a reading out of range, a map that does not match,
and inverters into the same ingest as MQTT telemetry."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.modbus import Device, poll_sdm630, poll_sunspec_inverter, poll_sunspec_meter
from simulators.clock import SimClock
from simulators.modbus import Sdm630Meter, SiteLoad, SunSpecInverter, SunSpecMeter
from solar.events import GridMeterReading, InverterLivenessChanged
from solar.ingest import InverterSpec, ParkSpec, SolarIngest
from solar.meters import GridMeters, MeterSpec
from tests.fixtures.platform import make_settings, running_platform

pytestmark = pytest.mark.integration

NOON = datetime(1990, 6, 14, 17, tzinfo=UTC)  # solar noon in Greensboro


class Events:
    def __init__(self) -> None:
        self.items: list[object] = []

    async def __call__(self, event: object) -> None:
        self.items.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.items if isinstance(e, kind)]


@contextlib.asynccontextmanager
async def polling(coroutine: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    task = asyncio.create_task(coroutine)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(check: Callable[[], Any], what: str, timeout_s: float = 10.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not (value := check()):
        assert loop.time() < deadline, what
        await asyncio.sleep(0.02)
    return value


def meters_for(events: Events, **spec: Any) -> GridMeters:
    return GridMeters({"s": MeterSpec("s", "sunspec", **spec)}, events, lambda: datetime.now(UTC))


@pytest.mark.parametrize(("model", "base"), [(203, 40000), (201, 50000), (204, 0)])
async def test_sunspec_meter_discovery_and_scale_factors(model: int, base: int) -> None:
    load = SiteLoad(SimClock(NOON), base_a=(12.34, 5.5, 7.0))
    events = Events()
    ingest = meters_for(events)  # a 201's L2 and L3 read 0 A
    async with SunSpecMeter(load, model=model, base=base) as meter:
        device = Device(meter.host, meter.port, 1, 0.05, "test meter")
        async with polling(poll_sunspec_meter(device, ingest, "s")):
            reading = (await until(lambda: events.of(GridMeterReading), "no reading"))[0]
    expected = (12.34, 0.0, 0.0) if model == 201 else (12.34, 5.5, 7.0)
    assert reading.current_a == pytest.approx(expected)
    assert reading.power_w == pytest.approx(round(sum(expected[: 1 if model == 201 else 3]) * 230 / 10) * 10)
    assert ingest.rejects == {}


async def test_large_currents_come_with_a_coarser_scale_factor() -> None:
    events = Events()
    ingest = meters_for(events, max_current_a=1000.0)
    async with SunSpecMeter(SiteLoad(SimClock(NOON), base_a=(350.0, 120.7, 99.9))) as meter:  # A_SF -1
        async with polling(poll_sunspec_meter(Device(meter.host, meter.port, 1, 0.05, "m"), ingest, "s")):
            reading = (await until(lambda: events.of(GridMeterReading), "no reading"))[0]
    assert reading.current_a == pytest.approx((350.0, 120.7, 99.9))


async def test_meter_follows_the_load_and_the_chargers() -> None:
    load = SiteLoad(SimClock(NOON), base_a=(10.0, 10.0, 10.0))
    chargers = [16.0, 16.0, 16.0]
    events = Events()
    ingest = meters_for(events)
    async with SunSpecMeter(load, lambda: chargers) as meter:
        async with polling(poll_sunspec_meter(Device(meter.host, meter.port, 1, 0.05, "m"), ingest, "s")):
            await until(lambda: events.of(GridMeterReading), "no reading")
            load.step(1, 40.0)
            chargers[:] = [6.0, 6.0, 6.0]
            await until(
                lambda: events.of(GridMeterReading)[-1].current_a == pytest.approx((16.0, 56.0, 16.0)), "no step"
            )


async def test_a_meter_that_stops_answering_goes_silent_and_comes_back() -> None:
    events = Events()
    clock_now = [datetime.now(UTC)]
    ingest = GridMeters({"s": MeterSpec("s", "sunspec", timeout_s=0.5)}, events, lambda: clock_now[0])
    async with SunSpecMeter(SiteLoad(SimClock(NOON))) as meter:
        async with polling(poll_sunspec_meter(Device(meter.host, meter.port, 1, 0.1, "m"), ingest, "s")):
            await until(lambda: ingest.state("s") == "online", "never online")
            meter.set_silent(True)
            await asyncio.sleep(0.3)
            count = len(events.of(GridMeterReading))
            await asyncio.sleep(0.5)
            assert len(events.of(GridMeterReading)) == count  # nothing heard while it is silent
            clock_now[0] += timedelta(seconds=1)
            await ingest.check_timeouts()
            assert ingest.state("s") == "silent"
            meter.set_silent(False)
            await until(lambda: ingest.state("s") == "online", "did not come back", timeout_s=15)


async def test_a_reading_out_of_range_is_refused() -> None:
    events = Events()
    ingest = meters_for(events, max_current_a=100.0)
    async with SunSpecMeter(SiteLoad(SimClock(NOON))) as meter:
        meter.glitch_a = 250.0
        async with polling(poll_sunspec_meter(Device(meter.host, meter.port, 1, 0.05, "m"), ingest, "s")):
            await until(lambda: ingest.rejects["current_out_of_range"] >= 2, "not refused")
            assert events.of(GridMeterReading) == []
            meter.glitch_a = 0.0
            await until(lambda: events.of(GridMeterReading), "no reading after the glitch")
    assert ingest.rejected_view()[-1]["topic"] == "modbus/s"


async def test_a_register_map_that_does_not_match() -> None:
    events = Events()
    ingest = meters_for(events)
    async with SunSpecMeter(SiteLoad(SimClock(NOON))) as meter:
        meter.wrong_model = 213  # a float meter model: not the integer map this poller decodes
        async with polling(poll_sunspec_meter(Device(meter.host, meter.port, 1, 0.05, "m"), ingest, "s")):
            await until(lambda: ingest.rejects["model_mismatch"], "mismatch not counted")
    assert events.of(GridMeterReading) == []
    assert "no model 201/202/203/204" in ingest.rejected_view()[0]["payload"]


async def test_sdm630() -> None:
    events = Events()
    ingest = GridMeters({"s": MeterSpec("s", "sdm630")}, events, lambda: datetime.now(UTC))
    async with Sdm630Meter(SiteLoad(SimClock(NOON), base_a=(3.5, 4.25, 5.0))) as meter:
        async with polling(poll_sdm630(Device(meter.host, meter.port, 1, 0.05, "m"), ingest, "s")):
            reading = (await until(lambda: events.of(GridMeterReading), "no reading"))[0]
    assert reading.current_a == pytest.approx((3.5, 4.25, 5.0))
    assert reading.power_w == pytest.approx(12.75 * 230, rel=1e-6)


async def test_sunspec_is_not_an_sdm630() -> None:
    events = Events()
    ingest = GridMeters({"s": MeterSpec("s", "sdm630")}, events, lambda: datetime.now(UTC))
    async with SunSpecMeter(SiteLoad(SimClock(NOON)), base=0) as meter:  # SunSpec registers where floats are read
        async with polling(poll_sdm630(Device(meter.host, meter.port, 1, 0.05, "m"), ingest, "s")):
            await until(lambda: ingest.rejects["register_map_mismatch"], "mismatch not counted")


@pytest.mark.parametrize("model", [103, 101, 701])
async def test_sunspec_inverter_into_the_solar_ingest(model: int) -> None:
    events = Events()
    clock = SimClock(NOON, speed=600.0)
    solar = SolarIngest(
        {"p": ParkSpec("p", "m", {"inv": InverterSpec("inv", 5000.0, adapter="modbus_sunspec")})},
        events,
        clock.now,
    )
    async with SunSpecInverter(clock, rated_power_w=5000.0, model=model) as inverter:
        async with polling(
            poll_sunspec_inverter(Device(inverter.host, inverter.port, 1, 0.05, "i"), solar, "p", "inv")
        ):
            await until(lambda: solar.parks_view()[0]["energy_today_wh"] > 5, "no energy counted")
            assert solar.park_power_w("p") == pytest.approx(inverter.power_w, rel=0.1, abs=50)
            assert solar.park_power_w("p") > 1000
            inverter.fault = True  # St 7 (fault): offline, 0 W
            await until(lambda: solar.parks_view()[0]["inverters"][0]["state"] == "offline", "fault not seen")
    assert [e.state for e in events.of(InverterLivenessChanged)] == ["online", "offline"]
    assert solar.rejects == {}


async def test_a_meter_where_an_inverter_was_configured() -> None:
    events = Events()
    solar = SolarIngest(
        {"p": ParkSpec("p", "m", {"inv": InverterSpec("inv", 5000.0, adapter="modbus_sunspec")})},
        events,
        lambda: datetime.now(UTC),
    )
    async with SunSpecMeter(SiteLoad(SimClock(NOON))) as meter:
        async with polling(poll_sunspec_inverter(Device(meter.host, meter.port, 1, 0.05, "i"), solar, "p", "inv")):
            await until(lambda: solar.rejects["model_mismatch"], "mismatch not counted")
    assert solar.rejects_by_park["p"]["model_mismatch"] >= 1
    assert solar.parks_view()[0]["inverters"][0]["state"] == "unknown"


async def test_an_inverter_beyond_its_rating_is_refused() -> None:
    events = Events()
    clock = SimClock(NOON)
    solar = SolarIngest(
        {"p": ParkSpec("p", "m", {"inv": InverterSpec("inv", 1000.0, adapter="modbus_sunspec")})}, events, clock.now
    )
    async with SunSpecInverter(clock, rated_power_w=5000.0) as inverter:  # a 5 kW device configured as 1 kW
        async with polling(
            poll_sunspec_inverter(Device(inverter.host, inverter.port, 1, 0.05, "i"), solar, "p", "inv")
        ):
            await until(lambda: solar.rejects["power_above_rating"], "not refused")
    assert solar.rejects_by_park["p"]["power_above_rating"] >= 1


async def test_platform_follows_a_modbus_meter(tmp_path: Path) -> None:
    """`coopgrid serve` with `[sites.meter] layout = "sunspec"`: the allocation takes the site's room from it."""
    load = SiteLoad(SimClock(NOON), base_a=(8.0, 21.5, 3.0))
    async with SunSpecMeter(load) as meter:
        settings = make_settings(
            tmp_path,
            sites=[
                {
                    "id": "site-a",
                    "grid_limit_a": 63.0,
                    "meter": {"layout": "sunspec", "host": meter.host, "port": meter.port, "interval_s": 0.2},
                }
            ],
        )
        async with running_platform(settings) as platform, aiohttp.ClientSession() as http:

            async def grid() -> dict[str, Any]:
                async with http.get(f"{platform.http_url}/api/sites/site-a/allocation") as response:
                    return dict((await response.json()).get("grid") or {})

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while (body := await grid()).get("source") != "meter":
                assert loop.time() < deadline, body
                await asyncio.sleep(0.1)
            assert body["base_load_a"] == pytest.approx(21.5)
