"""Phase switching end to end: little sun puts a switchable charger on one phase, plenty puts it back on three.

The platform runs with its embedded broker; solar telemetry is published in
the native layout; the charger is the project's simulator, which wires as
many phases as the profile in force says (numberPhases).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import pytest

from simulators.ev import EVArrival
from simulators.pytest_plugin import RunningFleet
from tests.fixtures.platform import make_settings, running_platform

pytestmark = pytest.mark.e2e


async def publish_solar(host: str, port: int, watts: dict[str, float], stop: asyncio.Event) -> None:
    energy = 1_000_000.0
    async with aiomqtt.Client(host, port, identifier="phase-test-park") as client:
        while not stop.is_set():
            energy += watts["now"] * 0.2 / 3600
            payload = {
                "ts": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "ac_power_w": watts["now"],
                "energy_wh": round(energy, 3),
            }
            await client.publish("coopgrid/solar/park-1/inv-1/telemetry", json.dumps(payload), qos=1)
            await asyncio.sleep(0.2)


async def test_a_switchable_charger_follows_the_sun_from_one_to_three_phases(
    tmp_path: Path, charger_fleet: object
) -> None:
    settings = make_settings(
        tmp_path,
        scheduler={"tick_s": 0.5, "debounce_s": 0.05, "min_change_a": 0.2},
        sites=[{"id": "site-a", "grid_limit_a": 32.0}],
        chargers=[{"id": "SIM-1", "site_id": "site-a", "phases": 3, "phase_switching": True}],
        id_tags=[{"id": "DEMO-TAG"}],
        cooperatives=[{"id": "coop", "members": [{"id": "m1"}]}],
        parks=[{"id": "park-1", "member_id": "m1", "inverters": [{"id": "inv-1", "rated_power_w": 20_000.0}]}],
    )
    watts = {"now": 2_300.0}  # below the 3-phase minimum (6 A x 3 x 230 V = 4,140 W), above the 1-phase one
    stop = asyncio.Event()
    ev = [EVArrival(0.0, battery_wh=80_000.0, soc=0.2, target_soc=0.9, max_power_w=11_000.0, stay_s=8 * 3600.0)]
    async with running_platform(settings) as platform:
        feeder = asyncio.create_task(publish_solar(platform.mqtt_host, platform.mqtt_port, watts, stop))
        try:
            async with charger_fleet(platform.ocpp_url, 1, speed=1.0, plan=lambda _: list(ev)) as fleet:  # type: ignore[operator]
                assert isinstance(fleet, RunningFleet)
                charger = fleet.chargers[0]
                connector = charger.connectors[1]
                await fleet.wait_for(lambda: connector.phases == 1 and connector.drawn_a > 6.0, 20, "one phase")
                assert connector.drawn_a == pytest.approx(10.0, abs=0.6)  # 2,300 W on one phase
                assert charger.power_w <= 2_300.0 + 1.0
                watts["now"] = 9_000.0
                await fleet.wait_for(lambda: connector.phases == 3 and connector.drawn_a > 12.0, 20, "three phases")
                assert charger.power_w <= 9_000.0 + 1.0
        finally:
            stop.set()
            await feeder
