"""The simulated OCPP 2.1 station against a running CoopGrid: a whole charging session on the 2.1 schemas,
visible in REST; with a tariff, the station's own cost (costDetails) beside CoopGrid's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from simulators.chargepoint21 import SimulatedChargePoint21
from simulators.ev import EVArrival
from tests.fixtures.platform import make_settings, running_platform

pytestmark = pytest.mark.e2e

# a priced session's running cost is quoted at the platform's clock: the stations' simulated day starts now
NOW = datetime.now(UTC).replace(microsecond=0)
EV = [EVArrival(0.0, battery_wh=60_000.0, soc=0.2, target_soc=0.9, max_power_w=11_000.0, stay_s=1800.0)]


def ended(station: SimulatedChargePoint21) -> bool:
    """Its transaction ended and told (the Ended event answered), the cost in it."""
    return bool(station.cost_reports) and station.transaction_id() is None and not station._outbox  # noqa: SLF001


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


STANDARD = {
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "FLAT", "price": 0.50, "vat": 21}]},
        {"price_components": [{"type": "ENERGY", "price": 0.30, "vat": 21}]},
    ],
}
# the EV comes once the station was told its default tariff (after its boot)
LATER = [EVArrival(600.0, battery_wh=60_000.0, soc=0.2, target_soc=0.9, max_power_w=11_000.0, stay_s=1800.0)]
LATE = {"currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": 0.40, "vat": 21}]}]}


async def put_tariff(
    http: aiohttp.ClientSession, url: str, tariff_id: str, tariff: dict[str, Any], audience: str = "all"
) -> None:
    async with http.put(f"{url}/api/tariffs/{tariff_id}", json={"tariff": tariff, "audience": audience}) as response:
        assert response.status == 201, await response.text()


async def test_the_21_station_prices_the_session_at_its_default_tariff_as_coopgrid_does(
    tmp_path: Path, charger_fleet: Any
) -> None:
    settings = make_settings(tmp_path, chargers=[], id_tags=[{"id": "DEMO-TAG"}])  # at no site: charged at full power
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        await put_tariff(http, platform.http_url, "standard", STANDARD)
        async with charger_fleet(
            platform.ocpp_url, 1, speed=300, protocol="2.1", plan=lambda _: list(LATER), start=NOW
        ) as fleet:
            station = fleet.chargers[0]
            await fleet.wait_for(lambda: 0 in station.default_tariffs, 10, "the default tariff")
            assert station.default_tariffs[0]["tariffId"] == "standard"
            await fleet.wait_charging()
            await fleet.wait_for(lambda: ended(station), 30, "its cost told")
        (report,) = station.cost_reports.values()
        # the station has its Ended answered; CoopGrid's store may take a moment more on a loaded machine
        for _ in range(100):
            (session,) = await sessions_of(http, platform.http_url, "SIM-1")
            if not session["active"] and session.get("station_cost"):
                break
            await asyncio.sleep(0.1)
        assert not session["active"]
        assert session["energy_wh"] > 1000
        assert session["station_cost"]["cost_details"] == report
        assert session["station_cost"]["tariff_ids"] == ["standard"]
        assert session["station_cost"]["energy_wh"] == pytest.approx(session["energy_wh"], abs=1.0)
        # the station's own figure and CoopGrid's, each rounded to the cent its own way
        assert session["station_cost"]["incl_tax"] == pytest.approx(float(session["cost"]["incl_vat"]), abs=0.02)
        assert session["station_cost"]["excl_tax"] == pytest.approx(float(session["cost"]["excl_vat"]), abs=0.01)


async def test_a_running_21_session_changes_tariff_from_rest(tmp_path: Path, charger_fleet: Any) -> None:
    settings = make_settings(tmp_path, chargers=[], id_tags=[{"id": "DEMO-TAG"}])  # at no site: charged at full power
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        await put_tariff(http, platform.http_url, "standard", STANDARD)
        await put_tariff(http, platform.http_url, "late", LATE, audience="member")  # not a guest's: not the default
        async with charger_fleet(
            platform.ocpp_url, 1, speed=300, protocol="2.1", plan=lambda _: list(LATER), start=NOW
        ) as fleet:
            station = fleet.chargers[0]
            await fleet.wait_charging()
            assert station.default_tariffs[0]["tariffId"] == "standard"
            transaction_id = station.transaction_id()
            for _ in range(50):  # its Started event answered: the session is CoopGrid's
                if await sessions_of(http, platform.http_url, "SIM-1"):
                    break
                await asyncio.sleep(0.1)
            url = f"{platform.http_url}/api/sessions/{transaction_id}/tariff?chargepoint=SIM-1"
            async with http.post(url, json={"tariff_id": "late"}) as response:
                answer = await response.json()
            assert (response.status, answer["status"], answer["session"]["tariff_id"]) == (200, "Accepted", "late")
            assert station.transaction_tariffs[str(transaction_id)]["tariffId"] == "late"
            await fleet.wait_for(lambda: ended(station), 30, "its cost told")
        (session,) = await sessions_of(http, platform.http_url, "SIM-1")
        assert session["tariff_id"] == "late"
        assert session["station_cost"]["tariff_ids"] == ["standard", "late"]
