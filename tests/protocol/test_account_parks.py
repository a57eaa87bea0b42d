"""Green energy per account and the parks it came from (issue 22, item 1), through the real path: inverter
telemetry over MQTT (the embedded broker), a member's OCPP 1.6 session, the green accounting's attribution
stored with the session; the account summary and the monthly statement split it by park, summing to the
session's green energy. The total told at the stop (before the accounting could know the last minute's
green) is corrected to the CDR's once it settles."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt

from gateway.platform import Platform
from gateway.settings import Settings
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.ocpp_client import server_call_answer

TARIFF = {
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "FLAT", "price": 0.50, "vat": 21}]},
        {"price_components": [{"type": "ENERGY", "price": 0.30, "green_price": 0.15, "vat": 21}]},
    ],
}
# generated in the session's minute: park-1 3 kWh, park-2 1 kWh (of 8 kWh the EV takes then)
READINGS = {"park-1/inv-1": (10_000.0, 13_000.0), "park-2/inv-2": (20_000.0, 21_000.0)}


async def test_summary_and_statement_split_green_by_park_and_the_final_cost_settles(tmp_path: Path) -> None:
    settings = park_settings(tmp_path)
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    async with running_platform(settings) as platform:
        platform.clock = lambda: minute + timedelta(seconds=30)  # the session's energy is booked in `minute`
        api = f"{platform.http_url}/api"
        await member_and_tariff(platform)
        await publish_generation(platform, minute)
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
        ):
            calls: list[list[Any]] = []

            async def call(unique_id: str, action: str, payload: dict[str, Any]) -> list[Any]:
                await ws.send_str(json.dumps([2, unique_id, action, payload]))
                while True:
                    frame = json.loads(await ws.receive_str(timeout=5))
                    if frame[0] != 2:
                        return list(frame)
                    calls.append(frame)
                    await ws.send_str(json.dumps([3, frame[1], server_call_answer(frame)]))

            async def final_cost() -> float:
                while True:
                    frame = json.loads(await ws.receive_str(timeout=5))
                    assert frame[0] == 2
                    await ws.send_str(json.dumps([3, frame[1], server_call_answer(frame)]))
                    if frame[2] == "DataTransfer" and frame[3]["messageId"] == "FinalCost":
                        return float(json.loads(frame[3]["data"])["cost"])

            await call("b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
            start = {"connectorId": 1, "idTag": "CARD-ANNA", "meterStart": 0, "timestamp": minute.isoformat()}
            transaction_id = (await call("s", "StartTransaction", start))[2]["transactionId"]
            stop = {"transactionId": transaction_id, "meterStop": 8000,
                    "timestamp": (minute + timedelta(seconds=30)).isoformat()}  # fmt: skip
            assert await call("t", "StopTransaction", stop) == [3, "t", {}]
            # told at once, its minute not closed: 8 kWh as grid 2.40 + 0.50, VAT 0.61
            assert await final_cost() == 3.51
            await caught_up(platform, minute)
            await platform.energy.flush(final=True)  # the minute closes: 4 kWh of it green, the CDR issued
            # settled: 4 kWh grid 1.20 + 4 kWh green 0.60 + 0.50, VAT 0.48
            assert await final_cost() == 2.78

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{api}/accounts/anna/summary") as response:
                summary = await response.json()
            month = minute.strftime("%Y-%m")
            async with http.get(f"{api}/accounts/anna/statement", params={"month": month}) as response:
                statement = await response.json()
            async with http.get(f"{api}/accounts/anna/statement", params={"month": month, "format": "html"}) as page:
                html = await page.text()
            async with http.get(f"{api}/cdrs", params={"account": "anna"}) as response:
                cdrs = await response.json()
    assert (summary["energy_wh"], summary["green_energy_wh"]) == (8000.0, 4000.0)
    assert summary["green_energy_by_park_wh"] == {"park-1": 3000.0, "park-2": 1000.0}
    assert sum(summary["green_energy_by_park_wh"].values()) == summary["green_energy_wh"]
    assert statement["green_energy_by_park_kwh"] == {"park-1": 3.0, "park-2": 1.0}
    assert [line["green_energy_kwh"] for line in statement["lines"]] == [4.0]
    assert "Green energy by park" in html
    assert "<th>park-2</th><td>1 kWh</td>" in html
    assert [c["cdr"]["total_cost"]["incl_vat"] for c in cdrs] == [2.78]  # what the station was told last


def park_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """A cooperative of two members, each with a park, and a site of its with CP-A and CP-B."""
    return make_settings(
        tmp_path,
        cooperatives=[{"id": "coop-1", "members": [{"id": "m1"}, {"id": "m2"}]}],
        sites=[{"id": "site-a", "grid_limit_a": 32.0, "cooperative_id": "coop-1"}],
        parks=[
            {"id": "park-1", "member_id": "m1", "inverters": [{"id": "inv-1", "rated_power_w": 5000.0}]},
            {"id": "park-2", "member_id": "m2", "inverters": [{"id": "inv-2", "rated_power_w": 5000.0}]},
        ],
        **overrides,
    )


async def member_and_tariff(platform: Platform) -> None:
    """The account anna (a member of coop-1) with the card CARD-ANNA, and the cooperative's member tariff."""
    api = f"{platform.http_url}/api"
    async with aiohttp.ClientSession() as http:
        for method, url, body in (
            ("POST", f"{api}/accounts", {"id": "anna", "kind": "member", "cooperative_id": "coop-1"}),
            ("PUT", f"{api}/id-tags/CARD-ANNA", {"status": "Accepted", "account_id": "anna"}),
            ("PUT", f"{api}/tariffs/member", {"cooperative_id": "coop-1", "audience": "member", "tariff": TARIFF}),
        ):
            async with http.request(method, url, json=body) as response:
                assert response.status == 201, await response.text()


async def publish_generation(platform: Platform, minute: datetime) -> None:
    await asyncio.wait_for(platform.bus.connected.wait(), 10)
    async with aiomqtt.Client(platform.mqtt_host, platform.mqtt_port, identifier="parks-test-inverters") as client:
        for k, offset in enumerate((0, 60)):
            for key, values in READINGS.items():
                payload = {"ts": (minute + timedelta(seconds=offset)).isoformat(), "ac_power_w": 3000.0,
                           "energy_wh": values[k]}  # fmt: skip
                await client.publish(f"coopgrid/solar/{key}/telemetry", json.dumps(payload), qos=1)


async def caught_up(platform: Platform, minute: datetime) -> None:
    for _ in range(200):
        baselines = platform.solar.minutes.baselines()
        if len(baselines) == 2 and all(b.ts == minute + timedelta(seconds=60) for b in baselines.values()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the ingest did not take the readings: {platform.solar.minutes.baselines()}")
