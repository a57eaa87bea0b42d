"""The inverter simulator on a real Mosquitto: topics of their own per park, offline at a normal exit,
its own progress line, and a day that starts at sunrise."""

from __future__ import annotations

import asyncio
import re
import sys
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

import aiomqtt
import pytest

from simulators.clock import SimClock
from simulators.fleet import Fleet
from simulators.inverter import LAYOUTS, sunrise

pytestmark = pytest.mark.integration

NOON = datetime(1990, 6, 14, 17, tzinfo=UTC)
STATES = {"native": ("online", "offline"), "opendtu": ("1", "0"), "tasmota": ("Online", "Offline")}


async def _until(predicate: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"no {what} within {within_s} s"
        await asyncio.sleep(0.05)


async def _collect(client: aiomqtt.Client, into: dict[str, list[str]]) -> None:
    async for message in client.messages:
        payload = message.payload
        assert isinstance(payload, bytes | bytearray)
        into[str(message.topic)].append(bytes(payload).decode())


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_two_parks_publish_on_topics_of_their_own(mosquitto: tuple[str, int], layout: str) -> None:
    host, port = mosquitto
    fleet = Fleet.of_parks(
        host, port, 2, 2, clock=SimClock(NOON, speed=60), rated_power_w=5000.0, publish_interval_s=0.1, layout=layout
    )
    seen: dict[str, list[str]] = defaultdict(list)
    async with aiomqtt.Client(host, port, identifier=f"watch-{layout}") as watch:
        await watch.subscribe("#", qos=1)
        reader = asyncio.create_task(_collect(watch, seen))
        runner = asyncio.create_task(fleet.run())
        try:
            await _until(lambda: sum(p.published for p in fleet.parks) >= 12, 20, "telemetry")
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await asyncio.sleep(0.3)
            reader.cancel()
    first, second = fleet.parks
    mine = [{t for inv in park.inverter_ids for t in park.topics(inv)} for park in fleet.parks]
    assert mine[0].isdisjoint(mine[1]), mine[0] & mine[1]
    assert len(mine[0]) == len(mine[1]) == 2 * len(first.topics("inv-1"))  # and each inverter its own
    for park, topics in zip(fleet.parks, mine, strict=True):
        heard = {t for t in seen if t in topics}
        assert heard == topics, f"{park.park_id}: {sorted(topics - heard)} never published"
    assert set(seen) <= mine[0] | mine[1]  # nothing else, and nothing shared
    assert second.base_topic("inv-1") != first.base_topic("inv-1")


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_a_normal_exit_leaves_offline_not_online_retained(mosquitto: tuple[str, int], layout: str) -> None:
    host, port = mosquitto
    fleet = Fleet.of_parks(
        host, port, 1, 2, clock=SimClock(NOON, speed=600), rated_power_w=5000.0, publish_interval_s=0.1, layout=layout
    )
    park = fleet.parks[0]
    state_topics = [park.topics(inv)[-1] for inv in park.inverter_ids]
    await fleet.run(duration_s=600)  # runs its course, then stops every inverter as Ctrl-C does
    assert park.published > 0
    assert not park.online

    retained: dict[str, list[str]] = defaultdict(list)
    async with aiomqtt.Client(host, port, identifier=f"late-{layout}") as late:
        for topic in state_topics:
            await late.subscribe(topic, qos=1)
        reader = asyncio.create_task(_collect(late, retained))
        await _until(lambda: len(retained) >= len(state_topics), 10, "retained states")
        reader.cancel()
    online, offline = STATES[layout]
    assert {topic: values[-1] for topic, values in retained.items()} == dict.fromkeys(state_topics, offline)
    assert online != offline


async def test_the_progress_lines_show_each_simulators_own_fields(mosquitto: tuple[str, int]) -> None:
    host, port = mosquitto
    parks = Fleet.of_parks(host, port, 2, 3, clock=SimClock(NOON, speed=60), rated_power_w=5000.0)
    runner = asyncio.create_task(parks.run())
    try:
        await _until(
            lambda: sum(len(p.online) for p in parks.parks) == 6 and bool(parks.summary()["solar_power_kw"]),
            20,
            "six inverters online and producing",
        )
        line = parks.progress_line()
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert re.fullmatch(
        r"\[1990-06-14 17:\d\d\] inverters 6/6 online in 2 parks, solar \d+\.\d kW / \d+\.\d kWh \(\d+ msgs\)", line
    ), line
    assert "charg" not in line
    assert "EV" not in line
    assert parks.summary_line().startswith("done: ")
    assert "EVs" not in parks.summary_line()

    chargers = Fleet.of_chargers("ws://127.0.0.1:9/ocpp", 2, clock=SimClock(NOON))
    line = chargers.progress_line()
    assert line == "[1990-06-14 17:00] chargers 0/2 up, 0 charging, EV 0.0 kW / 0.0 kWh"
    assert "solar" not in chargers.summary_line()


async def test_the_cli_starts_at_sunrise_and_names_each_parks_topics(mosquitto: tuple[str, int]) -> None:
    host, port = mosquitto
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "simulate", "inverters", "--mqtt", f"{host}:{port}",
        "--parks", "2", "--inverters", "2", "--layout", "opendtu", "--day", "1990-06-14",
        "--speed", "1200", "--interval", "0.2", "--duration", "3600",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    rise = sunrise(datetime(1990, 6, 14, tzinfo=UTC), "greensboro")
    assert lines[0].endswith(f"greensboro from {rise:%Y-%m-%d %H:%M} UTC")
    assert lines[1] == "  park-1: adapter = 'opendtu', topic = inv-1 solar/park-1-inv-1, inv-2 solar/park-1-inv-2"
    assert lines[2] == "  park-2: adapter = 'opendtu', topic = inv-1 solar/park-2-inv-1, inv-2 solar/park-2-inv-2"
    progress = [line for line in lines if line.startswith("[")]
    assert progress
    assert all("inverters" in line and "charg" not in line for line in progress)
    assert lines[-1].startswith("done: ")
    assert "kWh generated" in lines[-1]
