"""Battery green in the cooperative report, against a running platform over a real Mosquitto: solar a park
generated and a battery stored at noon, given to an EV later with no sun, counts as green for the session
and as the park's energy into EVs in GET /api/cooperatives/{id}/report; the stored mix survives a restart."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import aiomqtt
import pytest

from tests.fixtures.platform import make_settings, running_platform
from tests.integration.test_energy_truth import charger, meter

pytestmark = pytest.mark.integration

BATTERY = "coopgrid/batteries/site-a/bat-1/telemetry"
INVERTER = "coopgrid/solar/park-1/inv-1/telemetry"


async def test_solar_stored_then_given_to_an_ev_is_in_the_report(tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    host, port = mosquitto
    settings = make_settings(
        tmp_path,
        mqtt={"url": f"mqtt://{host}:{port}", "client_id": "coopgrid-battery-green"},
        cooperatives=[{"id": "coop", "members": [{"id": "m1"}]}],
        sites=[{"id": "site-a", "grid_limit_a": 32.0, "cooperative_id": "coop"}],
        parks=[{"id": "park-1", "member_id": "m1", "inverters": [{"id": "inv-1", "rated_power_w": 10_000.0}]}],
        batteries=[{"id": "bat-1", "site_id": "site-a", "capacity_kwh": 20, "power_kw": 10, "efficiency": 0.9}],
        planner={"enabled": False},
    )
    t0 = (datetime.now(UTC) - timedelta(minutes=40)).replace(second=0, microsecond=0)

    def at(minutes: float) -> str:
        return (t0 + timedelta(minutes=minutes)).isoformat()

    async with (
        running_platform(settings) as platform,
        aiomqtt.Client(host, port, identifier="field") as field,
        aiohttp.ClientSession() as http,
    ):
        for _ in range(100):  # until the platform's subscriptions stand
            await field.publish("coopgrid/batteries/site-a/bat-1/state", b"online", qos=1)
            await field.publish("coopgrid/solar/park-1/inv-1/state", b"online", qos=1)
            await asyncio.sleep(0.1)
            inverter = platform.solar.parks_view()[0]["inverters"][0]
            if (platform.battery_telemetry.view("bat-1") or {}).get("state") == "online" and inverter[
                "state"
            ] == "online":
                break
        before = (platform.battery_telemetry.view("bat-1") or {})["accepted"]
        # noon: 6 kW of sun for three minutes, no EV; the battery stores all of it (300 Wh)
        for k in range(4):
            solar = {"ts": at(k), "ac_power_w": 6000.0 if k < 3 else 0.0, "energy_wh": 1000.0 + 100.0 * k}
            await field.publish(INVERTER, json.dumps(solar).encode(), qos=1)
            stored = {"ts": at(k), "soc_pct": 50.0, "power_w": 6000.0 if k < 3 else 0.0}
            await field.publish(BATTERY, json.dumps(stored).encode(), qos=1)
        # later, no sun: the battery gives 3 kW for three minutes (150 Wh), an EV takes 150 Wh
        for k in range(10, 14):
            evening = {"ts": at(k), "soc_pct": 49.0, "power_w": -3000.0 if k < 13 else 0.0}
            await field.publish(BATTERY, json.dumps(evening).encode(), qos=1)
        async with charger(http, platform.ocpp_url, "CP-A") as call:
            started = await call(
                "s", "StartTransaction", {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": at(10)}
            )  # fmt: skip
            tx = started["transactionId"]
            for k in (11, 12, 13):
                await call(f"m{k}", "MeterValues", meter(tx, t0 + timedelta(minutes=k), 50.0 * (k - 10), 3000.0))
            await call("t", "StopTransaction", {"transactionId": tx, "meterStop": 150, "timestamp": at(14)})
        for _ in range(100):  # every message through the broker and the ingest
            view = platform.battery_telemetry.view("bat-1") or {}
            if view.get("accepted") == before + 8:
                break
            await asyncio.sleep(0.05)
        assert view["accepted"] == before + 8, view
        await platform.energy.flush(final=True)
        query = f"from={at(-60)}&to={(datetime.now(UTC) + timedelta(hours=1)).isoformat()}".replace("+", "%2B")
        async with http.get(f"{platform.http_url}/api/cooperatives/coop/report?{query}") as response:
            assert response.status == 200
            report = await response.json()
        async with http.get(f"{platform.http_url}/api/sessions/{tx}") as response:
            session = await response.json()
    assert report["generated_kwh"] == pytest.approx(0.3, abs=1e-3)
    assert report["to_evs_kwh"] == pytest.approx(0.15, abs=1e-3)  # all of it through the battery
    (park,) = report["members"][0]["parks"]
    assert park["to_evs_kwh"] == pytest.approx(0.15, abs=1e-3)
    assert session["green_energy_wh"] == pytest.approx(150.0, abs=1.0)
    assert platform.ledger.battery_green_share("bat-1") == pytest.approx(1.0)
    # the stored mix survives a restart: 300 Wh in, 150 Wh out took 150 / 0.9 of it, all of it green
    async with running_platform(settings) as again:
        assert again.ledger.stocks["bat-1"].total_wh == pytest.approx(300.0 - 150.0 / 0.9, abs=0.5)
        assert again.ledger.battery_green_share("bat-1") == pytest.approx(1.0)
