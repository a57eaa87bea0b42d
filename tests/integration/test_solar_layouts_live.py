"""Simulated parks publishing OpenDTU and Tasmota layouts through a real Mosquitto into the platform."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.platform import Platform
from simulators.clock import SimClock
from simulators.inverter import SimulatedPark
from tests.fixtures.platform import make_settings, running_platform

NOON = datetime(1990, 6, 14, 17, tzinfo=UTC)  # local solar noon in Greensboro


@pytest.mark.parametrize("layout", ["opendtu", "tasmota"])
async def test_third_party_layouts_end_to_end(tmp_path: Path, mosquitto: tuple[str, int], layout: str) -> None:
    host, port = mosquitto
    park = SimulatedPark(
        "park",
        [f"{layout}-1", f"{layout}-2"],
        mqtt_host=host,
        mqtt_port=port,
        clock=SimClock(NOON, speed=60.0),
        rated_power_w=5000.0,
        publish_interval_s=0.2,
        layout=layout,
    )
    settings = make_settings(
        tmp_path,
        mqtt={"url": f"mqtt://{host}:{port}", "client_id": f"coopgrid-{layout}"},
        cooperatives=[{"id": "coop", "members": [{"id": "m"}]}],
        parks=[
            {
                "id": "park",
                "member_id": "m",
                "inverters": [
                    {"id": inv, "rated_power_w": 5000.0, "adapter": layout, "topic": park.base_topic(inv)}
                    for inv in (f"{layout}-1", f"{layout}-2")
                ],
            }
        ],
    )

    def extra(platform: Platform, group: asyncio.TaskGroup) -> None:
        group.create_task(park.run())

    async with running_platform(settings, extra) as platform:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while platform.solar.park_power_w("park") <= 0 or not platform.solar.parks_view()[0]["energy_today_wh"]:
            assert loop.time() < deadline, f"no {layout} telemetry arrived"
            await asyncio.sleep(0.1)
        assert platform.solar.park_power_w("park") == pytest.approx(park.power_w, rel=0.2)
        assert platform.solar.rejects == {}
