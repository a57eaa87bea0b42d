"""A site's grid meter over a real Mosquitto into a running platform: the scheduler takes the site's room from
it, and when the meter goes silent the site falls back to its static limit and says so (REST, metric, topic)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest

from tests.fixtures.platform import make_settings, running_platform

pytestmark = pytest.mark.integration


async def until(check: Callable[[], Any], what: str, timeout_s: float = 10.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert loop.time() < deadline, what
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("layout", "topic", "messages"),
    [
        (
            "shelly_pro3em",
            "shellypro3em-site",
            [("shellypro3em-site/status/em:0", {"a_current": 12.0, "b_current": 3.0, "c_current": 4.0})],
        ),
        (
            "victron",
            "N/portal1/grid/30",
            [(f"N/portal1/grid/30/Ac/L{n}/Current", {"value": v}) for n, v in ((1, 12.0), (2, 3.0), (3, 4.0))],
        ),
        ("tasmota_sml", "sml-site", [("tele/sml-site/SENSOR", {"SML": {"Curr_p1": 12, "Curr_p2": 3, "Curr_p3": 4}})]),
        ("native", None, [("coopgrid/grid/site-a/meter", {"current_a": [12, 3, 4]})]),
    ],
)
async def test_meter_to_allocation_and_fallback(
    tmp_path: Path, mosquitto: tuple[str, int], layout: str, topic: str | None, messages: list
) -> None:
    host, port = mosquitto
    meter: dict[str, Any] = {"layout": layout, "interval_s": 0.2, "timeout_s": 1.0}
    if topic is not None:
        meter["topic"] = topic
    settings = make_settings(
        tmp_path,
        mqtt={"url": f"mqtt://{host}:{port}", "client_id": f"coopgrid-meter-{layout}"},
        sites=[{"id": "site-a", "grid_limit_a": 32.0, "base_load_a": 10.0, "meter": meter}],
    )
    async with (
        running_platform(settings) as platform,
        aiomqtt.Client(host, port, identifier=f"meter-{layout}") as device,
        aiohttp.ClientSession() as http,
    ):
        await device.subscribe("coopgrid/sites/site-a/meter/state")
        await device.subscribe("R/+/keepalive")

        async def allocation() -> dict[str, Any]:
            async with http.get(f"{platform.http_url}/api/sites/site-a/allocation") as response:
                assert response.status == 200
                return dict(await response.json())

        async def speak(rounds: int) -> None:
            for _ in range(rounds):
                for meter_topic, body in messages:
                    await device.publish(meter_topic, json.dumps(body).encode(), qos=1)
                await asyncio.sleep(0.2)

        await speak(10)
        await device.publish(messages[0][0], b'{"nonsense', qos=1)  # rejected, counted, kept aside
        await until(lambda: platform.meters.rejects, "the bad reading was not counted")
        body = await allocation()
        assert body["grid"]["source"] == "meter", body
        assert body["grid"]["base_load_a"] == 12.0  # the largest phase, no managed chargers drawing
        assert body["meter"]["state"] == "online"
        assert body["meter"]["fallback"] is False
        assert platform.meters.rejects == {"not_json": 1}
        assert platform.meters.rejected_view()[0]["payload"] == '{"nonsense'

        # silent: after the 1 s timeout the site is back on its static 32 A / 10 A, and says so
        await until(lambda: platform.meters.state("site-a") == "silent", "the meter did not go silent")
        await until(lambda: platform.scheduler.meter_fallback("site-a"), "the scheduler did not fall back")
        await asyncio.sleep(0.5)  # a scheduler run after the fallback
        body = await allocation()
        assert body["grid"]["source"] == "static"
        assert body["grid"]["base_load_a"] == 10.0
        assert body["meter"]["fallback"] is True
        await asyncio.sleep(1.1)  # the metrics are sampled once a second
        async with http.get(f"{platform.http_url}/metrics") as response:
            metrics = await response.text()
        assert 'coopgrid_grid_meter_fallback{site="site-a"} 1.0' in metrics
        states, keepalives = [], []
        async with asyncio.timeout(5):
            async for message in device.messages:
                if message.topic.matches("R/+/keepalive"):
                    keepalives.append(str(message.topic))
                    continue
                states.append(json.loads(message.payload))  # type: ignore[arg-type]
                if states[-1]["state"] == "silent":
                    break
        assert states[-1]["fallback"] is True
        assert keepalives == (["R/portal1/keepalive"] if layout == "victron" else [])

        await speak(3)  # back
        await until(lambda: platform.scheduler.meter_fallback("site-a") is False, "the meter did not come back")
