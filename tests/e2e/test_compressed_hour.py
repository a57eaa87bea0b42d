"""End to end: the whole stack against a real Mosquitto, simulators over a compressed hour.

The simulated hour is a late afternoon of the bundled TMY year, when the parks'
output falls. A mixed fleet charges: CP-A speaks OCPP 1.6J, CP-B OCPP 2.0.1.
The scheduler must lower the chargers' currents as solar falls, through both
protocols; sessions must be stored; nothing may be logged at ERROR.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean
from typing import Any

import aiohttp
import pytest

from gateway.platform import Platform
from simulators.chargepoint import EVArrival, SimulatedChargePoint
from simulators.chargepoint201 import SimulatedChargePoint201
from simulators.clock import SimClock
from simulators.inverter import SimulatedPark, park_power_w
from tests.fixtures.platform import make_settings, running_platform

pytestmark = pytest.mark.e2e

SPEED = 120.0  # one simulated hour in 30 real seconds
HOUR_S = 3600.0


def falling_hour(rated_w: float) -> datetime:
    """The first early-summer evening hour of the TMY year where PV falls by half or more."""
    for day in range(150, 200):
        for hour in (21, 22):  # UTC; 4-6 pm local in Greensboro (UTC-5)
            start = datetime(1990, 1, 1, hour, tzinfo=UTC) + timedelta(days=day)
            begin = park_power_w(start, rated_w)
            end = park_power_w(start + timedelta(seconds=HOUR_S), rated_w)
            if begin > 0.3 * rated_w and end < 0.5 * begin:
                return start
    raise AssertionError("no falling afternoon hour in the TMY data")


async def test_chargers_follow_the_sun_for_an_hour(
    tmp_path: Path, mosquitto: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    host, port = mosquitto
    rated_w = 12_000.0
    start = falling_hour(rated_w)
    settings = make_settings(
        tmp_path,
        mqtt={"url": f"mqtt://{host}:{port}", "client_id": "coopgrid-e2e"},
        scheduler={"tick_s": 1.0, "debounce_s": 0.1, "min_change_a": 0.5},
        solar={"stale_after_s": 5.0},
        sites=[{"id": "site-a", "grid_limit_a": 32.0}],
        chargers=[{"id": "CP-A", "site_id": "site-a"}, {"id": "CP-B", "site_id": "site-a"}],
        cooperatives=[{"id": "coop", "members": [{"id": "m1"}]}],
        parks=[
            {
                "id": "park-1",
                "member_id": "m1",
                "inverters": [{"id": f"inv-{i}", "rated_power_w": rated_w} for i in (1, 2, 3)],
            }
        ],
    )
    clock = SimClock(start, speed=SPEED)
    ev: dict[str, Any] = {
        "battery_wh": 80_000.0,
        "soc": 0.2,
        "target_soc": 0.95,
        "max_power_w": 11_000.0,
        "stay_s": 2 * HOUR_S,
    }
    chargers: list[SimulatedChargePoint] = []
    samples: list[tuple[float, float, float]] = []  # (sim seconds, solar W, total EV current A)
    limits_201: list[float] = []  # what the 2.0.1 station was offered

    def extra(platform: Platform, group: asyncio.TaskGroup) -> None:
        for index, cp_id in enumerate(("CP-A", "CP-B")):
            kind = SimulatedChargePoint if cp_id == "CP-A" else SimulatedChargePoint201
            sim = kind(
                cp_id,
                platform.ocpp_url,
                clock=clock,
                id_tag="TAG-OK",
                meter_interval_s=60.0,
                ev_plan=[EVArrival(arrive_after_s=30.0 * index, **ev)],
            )
            chargers.append(sim)
            group.create_task(sim.run())
        group.create_task(
            SimulatedPark(
                "park-1",
                ["inv-1", "inv-2", "inv-3"],
                mqtt_host=host,
                mqtt_port=port,
                clock=clock,
                rated_power_w=rated_w,
                publish_interval_s=0.5,
            ).run()
        )

    async with running_platform(settings, extra) as platform:
        loop = asyncio.get_running_loop()
        began = loop.time()
        while (elapsed := (loop.time() - began) * SPEED) < HOUR_S:
            await asyncio.sleep(0.5)
            samples.append((elapsed, platform.solar_power_w(), sum(c.drawn_current_a() for c in chargers)))
            limits_201.append(chargers[1].offered_limit_a())
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{platform.http_url}/api/sessions") as response:
                sessions = await response.json()
            async with http.get(f"{platform.http_url}/api/parks") as response:
                parks = await response.json()
            async with http.get(f"{platform.http_url}/api/chargepoints") as response:
                chargepoints = await response.json()

    # sessions were stored, with energy: an integer id for 1.6, the station's string for 2.0.1
    assert {s["charge_point_id"] for s in sessions} == {"CP-A", "CP-B"}
    assert {type(s["id"]) for s in sessions} == {int, str}
    assert {c["id"]: c["ocpp_version"] for c in chargepoints} == {"CP-A": "1.6", "CP-B": "2.0.1"}
    # the scheduler's limits reached the 2.0.1 station as charging profiles
    assert min(limits_201[len(limits_201) // 4 :]) < 16.0
    assert all(s["energy_wh"] > 0 for s in sessions)
    assert all(0 <= s["green_energy_wh"] <= s["energy_wh"] for s in sessions)
    assert {p["id"] for p in parks} == {"park-1"}
    assert all(c["connected"] for c in chargepoints)

    # solar fell, and the charging current fell with it
    settled = [s for s in samples if s[0] > 300.0]  # after both EVs have started
    quarter = len(settled) // 4
    early, late = settled[:quarter], settled[-quarter:]
    assert mean(s[1] for s in late) < 0.6 * mean(s[1] for s in early)
    assert mean(s[2] for s in late) < mean(s[2] for s in early)
    # green mode: the EVs never drew (much) more than the sun gave, beyond the ramp
    volts = 230.0 * 3
    over = [s for s in settled if s[2] * volts > s[1] * 1.15 + 500]
    assert len(over) <= len(settled) // 10

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


async def test_fast_mode_over_rest_charges_without_sun(tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    """An operator switches a session to `fast` at night: the charger is offered its maximum."""
    host, port = mosquitto
    settings = make_settings(
        tmp_path,
        mqtt={"url": f"mqtt://{host}:{port}", "client_id": "coopgrid-e2e-fast"},
        scheduler={"tick_s": 0.5, "debounce_s": 0.05},
        sites=[{"id": "site-a", "grid_limit_a": 32.0}],
        chargers=[{"id": "CP-A", "site_id": "site-a"}],
    )
    clock = SimClock(datetime(1990, 6, 14, 6, tzinfo=UTC), speed=60.0)  # 1 am local: no sun
    charger = SimulatedChargePoint("CP-A", "", clock=clock, id_tag="TAG-OK", ev_plan=[EVArrival(arrive_after_s=0.0)])

    def extra(platform: Platform, group: asyncio.TaskGroup) -> None:
        charger.url = f"{platform.ocpp_url}/CP-A"
        group.create_task(charger.run())

    async with running_platform(settings, extra) as platform, aiohttp.ClientSession() as http:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while charger.transaction_id() is None or charger.offered_limit_a() > 0:
            assert loop.time() < deadline, "the green-mode session was never paused"
            await asyncio.sleep(0.1)
        url = f"{platform.http_url}/api/sessions/{charger.transaction_id()}/mode"
        async with http.put(url, json={"mode": "fast"}) as response:
            assert response.status == 200, await response.text()
        while charger.offered_limit_a() < 16.0:
            assert loop.time() < deadline + 10, "fast mode never reached the charger"
            await asyncio.sleep(0.1)
        assert charger.drawn_current_a() > 6.0
