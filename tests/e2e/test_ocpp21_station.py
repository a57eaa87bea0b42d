"""The simulated OCPP 2.1 station against a running CoopGrid: a whole charging session on the 2.1 schemas,
visible in REST; with a tariff, the station's own cost (costDetails) beside CoopGrid's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from simulators.chargepoint21 import SimulatedChargePoint21
from simulators.ev import EVArrival
from tests.fixtures.platform import make_settings, running_platform

pytestmark = pytest.mark.e2e

EV = [EVArrival(0.0, battery_wh=60_000.0, soc=0.2, target_soc=0.9, max_power_w=11_000.0, stay_s=1800.0)]


async def sessions_of(http: aiohttp.ClientSession, url: str, charger: str) -> list[dict[str, Any]]:
    async with http.get(f"{url}/api/sessions?chargepoint={charger}") as response:
        assert response.status == 200
        return list(await response.json())


async def test_a_21_station_charges_a_whole_session_seen_in_rest(tmp_path: Path, charger_fleet: Any) -> None:
    settings = make_settings(tmp_path, chargers=[{"id": "SIM-1", "site_id": "site-a"}], id_tags=[{"id": "DEMO-TAG"}])
    async with (
        running_platform(settings) as platform,
        charger_fleet(platform.ocpp_url, 1, speed=300, protocol="2.1", plan=lambda _: list(EV)) as fleet,
        aiohttp.ClientSession() as http,
    ):
        station = fleet.chargers[0]
        assert isinstance(station, SimulatedChargePoint21)
        await fleet.wait_charging()
        async with http.get(f"{platform.http_url}/api/chargepoints/SIM-1") as response:
            view = await response.json()
        assert view["ocpp_version"] == "2.1"
        assert view["connectors"]["1"]["status"] == "Occupied"
        await fleet.wait_for(lambda: station.transaction_id() is None and not station._outbox, 30, "the EV gone")  # noqa: SLF001
        await fleet.wait_for(lambda: station.sent["TransactionEvent"] >= 3, 5, "Started, Updated, Ended")
        sessions = await sessions_of(http, platform.http_url, "SIM-1")
        assert len(sessions) == 1
        session = sessions[0]
        assert not session["active"]
        assert session["stop_reason"] == "EVDisconnected"
        assert abs(session["energy_wh"] - station.energy_wh) <= 1.0
        assert station.energy_wh > 0
        assert (station.sent["BootNotification"], station.boot_errors) == (1, 0)
