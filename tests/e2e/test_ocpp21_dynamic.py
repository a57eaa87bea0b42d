"""The simulated OCPP 2.1 station against a running CoopGrid with `ocpp.dynamic_profiles`: the scheduler's
limit installed as a Dynamic profile, followed by UpdateDynamicSchedule and pulled by the station; priority
charging asked from REST (UsePriorityCharging) and by the driver (NotifyPriorityCharging), the session at
its maximum without sun while it is on; a refused update sent again as SetChargingProfile."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from simulators.chargepoint21 import SimulatedChargePoint21
from simulators.ev import EVArrival
from tests.fixtures.platform import make_settings, running_platform

pytestmark = pytest.mark.e2e

EV = [EVArrival(0.0, battery_wh=80_000.0, soc=0.2, target_soc=0.9, max_power_w=11_000.0, stay_s=4 * 3600.0)]


async def running_session(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """The station's session once CoopGrid holds it (its Started event answered)."""
    for _ in range(100):
        async with http.get(f"{url}/api/sessions?chargepoint=SIM-1&active=true") as response:
            found = await response.json()
        if found:
            return dict(found[0])
        await asyncio.sleep(0.1)
    raise AssertionError("no running session")


async def session(http: aiohttp.ClientSession, url: str, session_id: str) -> dict[str, Any]:
    async with http.get(f"{url}/api/sessions/{session_id}?chargepoint=SIM-1") as response:
        return dict(await response.json())


async def test_dynamic_profiles_and_priority_charging_with_the_21_station(tmp_path: Path, charger_fleet: Any) -> None:
    settings = make_settings(
        tmp_path,
        chargers=[{"id": "SIM-1", "site_id": "site-a"}],  # no parks: no sun, a green session is paused
        id_tags=[{"id": "DEMO-TAG"}],
        ocpp={"dynamic_profiles": True, "dynamic_update_interval_s": 60},
    )
    async with (
        running_platform(settings) as platform,
        charger_fleet(platform.ocpp_url, 1, speed=60, protocol="2.1", plan=lambda _: list(EV)) as fleet,
        aiohttp.ClientSession() as http,
    ):
        station = fleet.chargers[0]
        assert isinstance(station, SimulatedChargePoint21)
        dynamic = platform.central.dynamic_schedules
        await fleet.wait_charging()
        view = await running_session(http, platform.http_url)
        session_id = view["id"]
        # the scheduler's first limit: a Dynamic profile, 0 A in green mode without sun
        await fleet.wait_for(lambda: dynamic.installs == 1, 10, "the Dynamic profile taken")
        assert (station.dynamic_limit(), dynamic.updates) == (0.0, 0)
        await fleet.wait_for(lambda: station.drawn_current_a() == 0.0, 5, "the EV paused")

        # priority charging from REST: the station takes it, the scheduler gives the session its maximum,
        # which reaches the station as an UpdateDynamicSchedule
        url = f"{platform.http_url}/api/sessions/{session_id}/priority-charging?chargepoint=SIM-1"
        async with http.post(url, json={"activate": True}) as response:
            answer = await response.json()
        assert (response.status, answer["status"], answer["priority_charging"]) == (200, "Accepted", True)
        assert station.priority_charging == {1: True}
        await fleet.wait_for(lambda: dynamic.updates == 1, 10, "UpdateDynamicSchedule taken")
        assert station.dynamic_limit() == 16.0
        assert dynamic.installs == 1
        await fleet.wait_for(lambda: station.drawn_current_a() > 15.0, 10, "the EV at its maximum")
        assert (await session(http, platform.http_url, session_id))["mode"] == "priority"
        # the station pulls its limit every dynUpdateInterval (60 simulated seconds): CoopGrid's in force
        await fleet.wait_for(lambda: bool(station.pull_answers), 10, "a pull")
        assert station.pull_answers[-1] == {"status": "Accepted", "scheduleUpdate": {"limit": 16.0}}

        async with http.post(url, json={"activate": False}) as response:
            answer = await response.json()
        assert (answer["status"], answer["priority_charging"], answer["session"]["mode"]) == (
            "Accepted",
            False,
            "green",
        )
        await fleet.wait_for(lambda: station.dynamic_limit() == 0.0, 10, "0 A again")
        await fleet.wait_for(lambda: station.drawn_current_a() == 0.0, 10, "the EV paused")

        # the driver asks for priority at the station: told with NotifyPriorityCharging, followed by CoopGrid
        assert await station.set_priority_charging(1, True)
        await fleet.wait_for(lambda: station.dynamic_limit() == 16.0, 10, "16 A for the driver's priority")
        assert (await session(http, platform.http_url, session_id))["priority_charging"] is True

        # an update the station refuses: the Dynamic profile sent again with the new limit
        station.reject_dynamic_updates = True
        assert await station.set_priority_charging(1, False)
        await fleet.wait_for(lambda: dynamic.fallbacks == 1, 10, "the refused update")
        await fleet.wait_for(lambda: dynamic.installs == 2, 10, "0 A by SetChargingProfile")
        assert station.dynamic_limit() == 0.0
        assert (await session(http, platform.http_url, session_id))["mode"] == "green"
        (stored,) = await platform.store.find_transactions_by_api_id(str(session_id), "SIM-1")
        assert not stored.priority_charging
