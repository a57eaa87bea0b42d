"""Two instances sharing the solar ingest (`$share/...` on a real Mosquitto, PostgreSQL, loopback).

The broker hands each raw telemetry message to one of the two instances; that
one parses it and passes the reading on to both. Checked: every message was
parsed exactly once and by both instances between them; both hold the same
live power, energy and rejected payloads; and with one instance restarted
mid-stream, the intervals stored in SQL are still exact, not one minute missing;
an instance that hangs and dies has its share taken over by the leader, also
when it comes back half-way; third-party layouts without a time of their own
are shared too.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest

from gateway.platform import Platform
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.platform import running_platform
from tests.integration.test_scale_out import fresh_database, wait_until
from tests.integration.test_solar_energy import Inverters, assert_exact, caught_up, energy_settings, stored_minutes

pytestmark = pytest.mark.integration

MALFORMED = {
    "not_json": b"{not json",
    "not_utf8": b"\xff\xfe\x00 power",
    "power_above_rating": b'{"ts": "2026-06-01T10:00:00Z", "ac_power_w": 99999, "energy_wh": 1}',
}


def bad_input(platform: Platform) -> Counter[str]:
    """Rejections by reason, without readings that crossed on their way (counted, harmless)."""
    return Counter({r: n for r, n in platform.solar.rejects.items() if r != "out_of_order_or_duplicate"})


async def test_each_message_is_parsed_once_and_every_instance_sees_all(
    tmp_path: Path, mosquitto_broker: Mosquitto, postgres_url: str
) -> None:
    database_url = await fresh_database(postgres_url)
    host, port = mosquitto_broker.host, mosquitto_broker.port
    inverters = Inverters()
    settings = {
        name: energy_settings(tmp_path / name, mosquitto_broker, database_url, name, share_group="ingest")
        for name in ("a", "b")
    }
    for name in settings:
        (tmp_path / name).mkdir()
    async with running_platform(settings["a"]) as a:
        await wait_until(lambda: a.leader)
        b_running = running_platform(settings["b"])
        b: Platform | None = await b_running.__aenter__()
        try:
            assert b is not None
            await asyncio.wait_for(b.bus.connected.wait(), 10)
            await inverters.publish(host, port, 120)  # 30 minutes, 2 inverters
            async with aiomqtt.Client(host, port, identifier="shared-test-bad-input") as client:
                for payload in MALFORMED.values():
                    await client.publish("coopgrid/solar/park-1/inv-1/telemetry", payload, qos=1)
            await caught_up(a, inverters)
            await caught_up(b, inverters)
            first_b = b
            await wait_until(lambda: bad_input(a) == bad_input(first_b) == Counter(dict.fromkeys(MALFORMED, 1)))

            # parsed once each, and spread over both instances
            assert a.solar.parsed + b.solar.parsed == 2 * 120 + len(MALFORMED)
            assert a.solar.parsed > 0
            assert b.solar.parsed > 0
            # the same picture on both
            for platform in (a, b):
                park = platform.solar.parks_view()[0]
                assert park["power_w"] == 6400.0
                assert park["energy_today_wh"] == pytest.approx(
                    sum(inverters.energy[i] - inverters.first[i] for i in inverters.energy),
                    abs=0.05,  # rounded to 0.1 Wh
                )
                kept = {r["reason"]: r["payload"] for r in platform.solar.rejected_view()}
                assert kept["not_utf8"] == MALFORMED["not_utf8"].decode("utf-8", errors="backslashreplace")
                assert kept["not_json"] == "{not json"

            # each instance's share and the bus's health in /metrics
            async with aiohttp.ClientSession() as http:

                async def scraped() -> dict[str, float]:
                    async with http.get(f"{a.http_url}/metrics") as response:
                        lines = (await response.text()).splitlines()
                    return {k: float(v) for k, v in (line.split(" ", 1) for line in lines if line[:1] != "#")}

                await until_async(lambda: _equals(scraped, "coopgrid_solar_parsed", a.solar.parsed))
                assert (await scraped())["coopgrid_bus_dropped"] == 0

            # the follower stops mid-stream (leaving the share group): the leader parses everything meanwhile;
            # the readings it passes on wait in the follower's session until it is back
            await b_running.__aexit__(None, None, None)
            b = None
            parsed_before = a.solar.parsed
            await inverters.publish(host, port, 120)
            await caught_up(a, inverters)
            assert a.solar.parsed - parsed_before == 2 * 120
            b_running = running_platform(settings["b"])
            b = await b_running.__aenter__()
            await inverters.publish(host, port, 120)
            await caught_up(a, inverters)
            await caught_up(b, inverters)
            assert b.solar.parsed > 0
            await a.energy.flush()
        finally:
            if b is not None:
                await b_running.__aexit__(None, None, None)
    assert inverters.n == 360
    assert_exact(await stored_minutes(database_url, inverters), inverters)


async def test_a_member_killed_mid_stream_loses_nothing(pair: Pair) -> None:
    """kill -9 of the instance that does not lead: the leader takes over its share; back, it shares again."""
    a, b, (host, port) = pair.a, pair.b, pair.broker
    inverters = Inverters()
    async with aiohttp.ClientSession() as http:
        await leader_then_follower(http, a, b)
        await inverters.publish(host, port, 120)

        async def parsed_all() -> bool:
            a_parsed = (await get_json(http, a, "/api/solar/rejects"))["parsed"]
            b_parsed = (await get_json(http, b, "/api/solar/rejects"))["parsed"]
            return bool(a_parsed + b_parsed == 240)

        await until_async(parsed_all)
        assert (await get_json(http, b, "/api/solar/rejects"))["parsed"] > 0  # b had its share

        # b hangs (SIGSTOP: its connection stays up, so the broker goes on handing it its share), then dies
        # (SIGKILL, nothing flushed): its will says offline; what it never acknowledged waits in its session
        assert b.process is not None
        b.process.send_signal(signal.SIGSTOP)
        await inverters.publish(host, port, 40)
        b.kill()
        rise_wh = 0.0

        async def a_has_it_all() -> bool:
            park = await get_json(http, a, "/api/parks/park-1")
            return bool(abs(park["energy_today_wh"] - rise_wh) < 0.1)

        # the leader takes over b's session: what the broker queued there for b, and b's place in the group
        await inverters.publish(host, port, 80)
        rise_wh = sum(inverters.energy[i] - inverters.first[i] for i in inverters.energy)
        await until_async(a_has_it_all)
        took_over = re.compile(r"took over (\d+) queued solar messages of b")

        async def adoption_ended() -> bool:
            return took_over.search(a.log.read_text()) is not None

        await until_async(adoption_ended)
        taken = took_over.search(a.log.read_text())
        assert taken is not None
        assert int(taken[1]) > 0
        b.start()  # back: it joins the group again
        await until_async(lambda: _health(http, b, "bus_connected"))
        await inverters.publish(host, port, 120)
        rise_wh = sum(inverters.energy[i] - inverters.first[i] for i in inverters.energy)
        await until_async(a_has_it_all)
        assert (await get_json(http, b, "/api/solar/rejects"))["parsed"] > 0  # b parsed again after its restart
        b.stop()
        a.stop()  # the leader stores its last minutes as it stops
    assert inverters.n == 360
    assert_exact(await stored_minutes(pair.database_url, inverters), inverters)


PARKS = [
    {
        "id": "park-1",
        "member_id": "m1",
        "inverters": [{"id": "inv-1", "rated_power_w": 5000.0}, {"id": "inv-2", "rated_power_w": 3000.0}],
    }
]


def shared_instance(tmp_path: Path, name: str, database_url: str, broker: tuple[str, int]) -> Any:
    """`coopgrid serve` in a process of its own (so that it can be hung and killed), in share group `ingest`."""
    from tests.fixtures.engines import Instance

    return Instance(
        tmp_path,
        name,
        database_url,
        broker,
        COOPGRID_PARKS=json.dumps(PARKS),
        COOPGRID_MQTT__SHARE_GROUP="ingest",
        COOPGRID_MQTT__CLIENT_ID=f"coopgrid-shared-{name}",
        COOPGRID_SOLAR__STALE_AFTER_S="600",
    )


@dataclass
class Pair:
    """Two `coopgrid serve` processes, `a` and `b`, in one share group, on one broker and one database."""

    a: Any
    b: Any
    broker: tuple[str, int]
    database_url: str


@pytest.fixture
async def pair(tmp_path: Path, mosquitto_broker: Mosquitto, postgres_url: str) -> AsyncIterator[Pair]:
    database_url = await fresh_database(postgres_url)
    broker = (mosquitto_broker.host, mosquitto_broker.port)
    first, second = (shared_instance(tmp_path, name, database_url, broker) for name in "ab")
    started = Pair(first, second, broker, database_url)
    try:
        yield started
    finally:
        started.b.stop()
        started.a.stop()


async def leader_then_follower(http: aiohttp.ClientSession, a: Any, b: Any) -> None:
    """Start `a`, let it be elected, then start `b`."""
    a.start()
    await until_async(lambda: _health(http, a, "scheduler_leader"))
    b.start()
    await until_async(lambda: _health(http, b, "bus_connected"))


async def get_json(http: aiohttp.ClientSession, target: Any, path: str) -> dict[str, Any]:
    async with http.get(f"{target.http_url}{path}") as response:
        return dict(await response.json())


async def test_a_member_back_while_its_share_is_taken_over_loses_nothing(pair: Pair) -> None:
    """The follower is killed and started again at once, while the leader takes over its session: the two
    connections with one client id replace each other; whatever the order, nothing is lost."""
    a, b, (host, port) = pair.a, pair.b, pair.broker
    inverters = Inverters()
    async with aiohttp.ClientSession() as http:
        await leader_then_follower(http, a, b)
        for _ in range(3):
            await inverters.publish(host, port, 40)
            assert b.process is not None
            b.process.send_signal(signal.SIGSTOP)  # hangs: its share queues at the broker
            await inverters.publish(host, port, 40)
            b.kill()  # the will goes out; the leader starts taking over ...
            b.start()  # ... while b comes back and takes its session again
            await until_async(lambda: _health(http, b, "bus_connected"))
        await inverters.publish(host, port, 40)
        rise_wh = sum(inverters.energy[i] - inverters.first[i] for i in inverters.energy)

        async def a_has_it_all() -> bool:
            park = await get_json(http, a, "/api/parks/park-1")
            return bool(abs(park["energy_today_wh"] - rise_wh) < 0.1)

        await until_async(a_has_it_all)
        b.stop()
        a.stop()  # the leader stores its last minutes as it stops
    assert_exact(await stored_minutes(pair.database_url, inverters), inverters)


async def _equals(scrape: Callable[[], Awaitable[dict[str, float]]], name: str, value: float) -> bool:
    return (await scrape()).get(name) == value


async def until_async(check: Callable[[], Awaitable[bool]], within_s: float = 30.0) -> None:
    for _ in range(int(within_s / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def _health(http: aiohttp.ClientSession, target: Any, field: str) -> bool:
    """A true `field` in the instance's /healthz (false while it does not answer yet)."""
    try:
        async with http.get(f"{target.http_url}/healthz") as response:
            return bool((await response.json())[field])
    except aiohttp.ClientError:
        return False


async def test_third_party_layouts_are_shared_too(tmp_path: Path, mosquitto_broker: Mosquitto) -> None:
    """OpenDTU power and lifetime yield on separate topics, parsed by either instance, seen by both.

    OpenDTU's messages carry no time: each is stamped where it was parsed, so two sent a few ms apart can
    cross between the instances. A lifetime counter read a little below its previous reading is then a
    glitch, not a reset; live power and energy are right again with the inverter's next readings.
    """
    from tests.fixtures.platform import make_settings

    host, port = mosquitto_broker.host, mosquitto_broker.port

    def settings(name: str) -> Any:
        (tmp_path / name).mkdir()
        return make_settings(
            tmp_path / name,
            instance_id=name,
            mqtt={"url": f"mqtt://{host}:{port}", "client_id": f"coopgrid-dtu-{name}", "share_group": "dtu"},
            parks=[
                {
                    "id": "roof",
                    "member_id": "m1",
                    "inverters": [
                        {"id": "hm-800", "rated_power_w": 800.0, "adapter": "opendtu", "topic": "solar/114182945123"}
                    ],
                }
            ],
        )

    async with running_platform(settings("a")) as a, running_platform(settings("b")) as b:
        await asyncio.wait_for(a.bus.connected.wait(), 10)
        await asyncio.wait_for(b.bus.connected.wait(), 10)
        async with aiomqtt.Client(host, port, identifier="dtu-test") as dtu:
            # the day's first counter reading reaches both instances before the rest: crossing with the second,
            # it would be taken as a glitch below the second, and the day would start 10 Wh later (seen once)
            await dtu.publish("solar/114182945123/0/yieldtotal", b"1000.00", qos=1)
            await wait_until(
                lambda: all(
                    any(base.energy_wh == 1_000_000.0 for base in p.solar.minutes.baselines().values()) for p in (a, b)
                )
            )
            for k in range(40):
                await dtu.publish("solar/114182945123/0/power", f"{500 + k}.5", qos=1)
                await dtu.publish("solar/114182945123/0/yieldtotal", f"{1000 + k * 0.01:.2f}", qos=1)
                await asyncio.sleep(0.005)  # an inverter's messages come apart in time
            await dtu.publish("solar/114182945123/0/power", b"not a number", qos=1)
            await asyncio.sleep(0.5)  # a while later, the inverter's next readings
            await dtu.publish("solar/114182945123/0/power", b"612.0", qos=1)
            await dtu.publish("solar/114182945123/0/yieldtotal", b"1000.40", qos=1)
        await wait_until(lambda: a.solar.parsed + b.solar.parsed == 84)
        await wait_until(
            lambda: all(
                p.solar.park_power_w("roof") == 612.0
                # readings 5 ms apart may cross between the instances: the counter is not taken for reset
                and p.solar.parks_view()[0]["energy_today_wh"] == pytest.approx(400.0, abs=0.05)
                and p.solar.minutes.counter_resets == 0
                and p.solar.rejects.get("not_a_number") == 1
                for p in (a, b)
            )
        )
        assert a.solar.parsed > 0
        assert b.solar.parsed > 0


async def test_a_takeover_cut_short_by_the_member_coming_back_loses_nothing(mosquitto_broker: Mosquitto) -> None:
    """The member's own connection replaces the leader's taking-over one half-way: every queued message ends
    up handled by one of the two (what the leader had not acknowledged yet goes back to the member)."""
    from gateway.bus import Bus
    from gateway.cluster import SharedIngest
    from solar.ingest import InverterSpec, ParkSpec, Rejected, SolarIngest

    host, port = mosquitto_broker.host, mosquitto_broker.port
    topic_filter = "coopgrid/solar/+/+/telemetry"
    shared_filter = f"$share/ingest/{topic_filter}"
    total = 3000
    async with aiomqtt.Client(host, port, identifier="member-x", clean_session=False) as member:
        await member.subscribe(shared_filter, qos=1)  # x joins the group, then vanishes
    async with aiomqtt.Client(host, port, identifier="inverter") as inverter:
        for n in range(total):
            await inverter.publish("coopgrid/solar/p/i/telemetry", f"{n}", qos=1)  # queued for x

    handled: list[int] = []

    async def publish(event: object) -> None:
        pass

    solar = SolarIngest(parks={"p": ParkSpec("p", "m", {"i": InverterSpec("i", 1.0)})}, publish=publish, clock=_now)
    leader = SharedIngest(Bus(host, port), solar, prefix="coopgrid", group="ingest", instance_id="a", client_id="a")

    half_way = asyncio.Event()

    async def note(item: object) -> None:
        assert isinstance(item, Rejected)  # "n" is not telemetry: rejected, with its payload kept
        handled.append(int(item.payload))
        if len(handled) >= 200:
            half_way.set()
        await asyncio.sleep(0.001)  # handling takes a while: the member comes back half-way

    solar.forward = note  # what the leader parsed, noted instead of passed on
    leader.members["x"] = ("offline", "member-x")
    taking_over = asyncio.create_task(leader._adopt("x", "member-x"))
    await asyncio.wait_for(half_way.wait(), 10)
    got_back: list[int] = []
    async with aiomqtt.Client(host, port, identifier="member-x", clean_session=False) as member:
        leader.members["x"] = ("online", "member-x")
        await asyncio.wait_for(taking_over, 10)
        try:
            async with asyncio.timeout(3):
                async for message in member.messages:
                    got_back.append(int(message.payload))  # type: ignore[arg-type]
        except TimeoutError:
            pass
    assert handled  # the leader took some over
    assert got_back  # and was cut short: the rest went back to the member
    assert set(handled) | set(got_back) == set(range(total))  # none lost (one may be handled twice: QoS 1)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
