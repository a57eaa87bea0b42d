"""The scheduler's world lives in the store (issue 16): sites and chargers created over REST are scheduled,
a charger moved between sites follows, the site's voltage is the one allocation uses, modes are stored."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.ocpp_client import Client, server_call_answer


async def next_limit(client: Client, within_s: float = 5.0) -> float:
    """The limit of the next SetChargingProfile the central system sends (other calls are answered)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        message = await client.ws.receive(timeout=max(0.01, deadline - loop.time()))
        frame = json.loads(message.data)
        if frame[0] != 2:
            continue
        await client.ws.send_str(json.dumps([3, frame[1], server_call_answer(frame)]))
        if frame[2] == "SetChargingProfile":
            return float(frame[3]["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"])


async def limit_becomes(client: Client, wanted: float, within_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    seen: list[float] = []
    while loop.time() < deadline:
        try:
            seen.append(await next_limit(client, deadline - loop.time()))
        except TimeoutError:
            break
        if seen[-1] == wanted:
            return
    raise AssertionError(f"no SetChargingProfile of {wanted} A within {within_s} s (saw {seen})")


async def test_a_rest_registered_charger_on_a_rest_site_is_scheduled_and_follows_moves(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sites=[{"id": "site-a", "grid_limit_a": 32.0}], chargers=[])
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        base = platform.http_url

        async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            async with http.request(method, base + path, json=body) as response:
                text = await response.text()
                return response.status, json.loads(text) if text else None

        status, site = await call("POST", "/api/sites", {"id": "site-us", "grid_limit_a": 10.0, "voltage_v": 120.0})
        assert status == 201
        assert site == {
            "id": "site-us", "name": "", "cooperative_id": None, "grid_limit_a": 10.0, "base_load_a": 0.0,
            "voltage_v": 120.0,
        }  # fmt: skip
        assert (await call("POST", "/api/sites", {"id": "site-us", "grid_limit_a": 1}))[0] == 409
        status, _ = await call("POST", "/api/chargepoints", {"id": "CP-REST", "site_id": "site-us", "phases": 1})
        assert status == 201
        async with http.ws_connect(f"{platform.ocpp_url}/CP-REST", protocols=("ocpp1.6",)) as ws:
            client = Client(ws)
            assert (await client.call("b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}))[2][
                "status"
            ] == "Accepted"
            start = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": datetime.now(UTC).isoformat()}
            answer = await client.call("s", "StartTransaction", start)
            transaction_id = answer[2]["transactionId"]
            assert await next_limit(client) == 0.0  # no sun: a green session waits, under the scheduler's control

            status, _ = await call("PUT", f"/api/sessions/{transaction_id}/mode", {"mode": "fast", "priority": 2})
            assert status == 200
            await limit_becomes(client, 10.0)  # the REST site's grid limit
            for _ in range(50):  # published once the charger has answered
                status, allocation = await call("GET", "/api/sites/site-us/allocation")
                if allocation["setpoints"] and allocation["setpoints"][0]["limit_a"] == 10.0:
                    break
                await asyncio.sleep(0.1)
            assert [p["charge_point_id"] for p in allocation["setpoints"]] == ["CP-REST"]
            assert allocation["setpoints"][0]["power_w"] == 10.0 * 120.0  # one phase at the site's voltage

            # the site changed over REST: the scheduler follows
            assert (await call("PATCH", "/api/sites/site-us", {"base_load_a": 3.0}))[0] == 200
            await limit_becomes(client, 7.0)
            # the charger moved to the configuration's site: its 16 A maximum fits there
            assert (await call("PATCH", "/api/chargepoints/CP-REST", {"site_id": "site-a"}))[0] == 200
            await limit_becomes(client, 16.0)
            for _ in range(50):
                _, moved = await call("GET", "/api/sites/site-us/allocation")
                if not moved["setpoints"]:
                    break
                await asyncio.sleep(0.1)
            assert moved["setpoints"] == []

            # the mode is stored and shown in the session view
            _, session = await call("GET", f"/api/sessions/{transaction_id}")
            assert (session["mode"], session["priority"], session["target_wh"]) == ("fast", 2, None)
            rows = await platform.store.list_transactions(active=True)
            assert (rows[0].mode, rows[0].priority) == ("fast", 2)
            leaving = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
            body = {"mode": "departure", "energy_wh": 9000, "departure": leaving.isoformat(), "priority": 1}
            assert (await call("PUT", f"/api/sessions/{transaction_id}/mode", body))[0] == 200
            _, session = await call("GET", f"/api/sessions/{transaction_id}")
            assert (session["mode"], session["target_wh"], session["priority"]) == ("departure", 9000, 1)
            assert datetime.fromisoformat(session["departure"]) == leaving
            adopted = platform.scheduler._sessions["CP-REST/1"]
            assert (adopted.mode, adopted.target_wh) == ("departure", 9000)

            # a site deleted: its chargers are at no site, and no longer scheduled
            assert (await call("DELETE", "/api/sites/site-a"))[0] == 204
            assert (await call("GET", "/api/sites/site-a"))[0] == 404
            status, refused = await call("PUT", f"/api/sessions/{transaction_id}/mode", {"mode": "green"})
            assert status == 409, refused


async def test_a_rest_sites_cooperative_is_the_pool_its_sessions_draw_from(tmp_path: Path) -> None:
    cooperatives = [{"id": "coop-a", "name": "A"}, {"id": "coop-b", "name": "B"}]
    sites = [{"id": "site-a", "grid_limit_a": 32.0, "cooperative_id": "coop-a"}]
    settings = make_settings(tmp_path, cooperatives=cooperatives, sites=sites, chargers=[])
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        body = {"id": "site-rest", "grid_limit_a": 20.0, "cooperative_id": "coop-b"}
        async with http.post(f"{platform.http_url}/api/sites", json=body) as response:
            assert response.status == 201
        async with http.post(
            f"{platform.http_url}/api/chargepoints", json={"id": "CP-B", "site_id": "site-rest"}
        ) as response:
            assert response.status == 201
        async with http.post(f"{platform.http_url}/api/chargepoints", json={"id": "CP-A", "site_id": "site-a"}):
            pass
        for _ in range(50):
            if platform.central.state("CP-B").site_id == "site-rest" and "site-rest" in platform.world.sites:
                break
            await asyncio.sleep(0.05)
        assert platform.pool_of("CP-B") == "coop-b"  # stored, not in the file: before, no pool at all
        assert platform.pool_of("CP-A") == "coop-a"
        assert platform.pool_of("CP-NONE") == ""
