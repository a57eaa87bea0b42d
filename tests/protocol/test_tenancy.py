"""Tenancy (issue 23): every route of the OpenAPI document x every role x two cooperatives.

Two cooperatives share one installation, each with a member, a park, a site and a charger that has run a
session; each park has accepted and rejected telemetry. Everything of one cooperative carries its name
("alpha" or "beta") in its ids. For every route in /api/openapi.json and every token:
- a token of one cooperative never reads anything of the other: no response body holds the other's name;
- naming the other's object in the path answers as for an object that does not exist (404 or 403);
- a viewer reads charger status and nothing a cooperative owns (no park, member, session or allocation).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest

from gateway.auth import new_token, token_digest
from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform

COOPS = ("alpha", "beta")
OPERATOR_TOKEN = "tenancy-operator-token-0123456789"


def names(coop: str) -> dict[str, str]:
    return {
        "cooperative_id": f"coop-{coop}",
        "member_id": f"member-{coop}",
        "park_id": f"park-{coop}",
        "site_id": f"site-{coop}",
        "charge_point_id": f"cp-{coop}-1",
        "id_tag": f"tag-{coop}",
        "account_id": f"acc-{coop}",
        "tariff_id": f"tariff-{coop}",
        "cdr_id": f"CG-{coop}",
        "reservation_id": "1",  # reservations are the operators' alone
        "partner_id": f"ocpi-{coop}",  # OCPI partners too
        "serial_number": "01",  # a charger certificate: the operators' too
    }


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(
        tmp_path,
        http={"host": "127.0.0.1", "port": 0, "auth": True},
        operator_token=OPERATOR_TOKEN,
        cooperatives=[
            {"id": f"coop-{c}", "name": f"Cooperative {c}", "members": [{"id": f"member-{c}", "name": f"M {c}"}]}
            for c in COOPS
        ],
        parks=[
            {"id": f"park-{c}", "member_id": f"member-{c}", "inverters": [{"id": f"inv-{c}", "rated_power_w": 9000}]}
            for c in COOPS
        ],
        sites=[{"id": f"site-{c}", "cooperative_id": f"coop-{c}", "grid_limit_a": 32.0} for c in COOPS],
        chargers=[{"id": f"cp-{c}-1", "site_id": f"site-{c}"} for c in COOPS],
        id_tags=[{"id": f"tag-{c}"} for c in COOPS],
    )
    async with running_platform(settings) as running:
        for c in COOPS:  # each cooperative's member account owns its tag, and has its own tariff
            await running.store.accounts.put_account(
                {"id": f"acc-{c}", "kind": "member", "cooperative_id": f"coop-{c}"}
            )
            await running.store.put_id_tag(f"tag-{c}", "Accepted", account_id=f"acc-{c}")
            body = {"id": f"tariff-{c}", "currency": "EUR", "elements": [
                {"price_components": [{"type": "ENERGY", "price": 0.3, "green_price": 0.1}]}]}  # fmt: skip
            await running.store.accounts.put_tariff(
                {"id": f"tariff-{c}", "cooperative_id": f"coop-{c}", "tariff": body}
            )
        yield running


async def _charge(platform: Platform, coop: str) -> int:
    """A charger of `coop` boots, starts a session and reports power and energy; its transaction id."""
    async with aiohttp.ClientSession() as http:
        url = f"{platform.ocpp_url}/cp-{coop}-1"
        async with http.ws_connect(url, protocols=("ocpp1.6",)) as ws:

            async def call(unique_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
                await ws.send_str(json.dumps([2, unique_id, action, payload]))
                while True:
                    frame = json.loads(await ws.receive_str(timeout=5))
                    if frame[0] == 2:  # the central system configures the charger: answer, never mind
                        await ws.send_str(json.dumps([3, frame[1], {"status": "Accepted"}]))
                    elif frame[1] == unique_id:
                        assert frame[0] == 3, frame
                        return dict(frame[2])

            await call("b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
            now = datetime.now(UTC).isoformat()
            started = await call(
                "s", "StartTransaction", {"connectorId": 1, "idTag": f"tag-{coop}", "meterStart": 0, "timestamp": now}
            )
            transaction_id = int(started["transactionId"])
            samples = [
                {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "7000", "measurand": "Power.Active.Import", "unit": "W"},
            ]
            meter = {
                "connectorId": 1,
                "transactionId": transaction_id,
                "meterValue": [{"timestamp": now, "sampledValue": samples}],
            }
            await call("m", "MeterValues", meter)
            return transaction_id


async def _telemetry(platform: Platform) -> None:
    async with aiomqtt.Client(platform.mqtt_host, platform.mqtt_port, identifier="tenancy-publisher") as client:
        for coop in COOPS:
            good = {"ts": datetime.now(UTC).isoformat(), "ac_power_w": 4000.0, "energy_wh": 10_000.0}
            await client.publish(f"coopgrid/solar/park-{coop}/inv-{coop}/telemetry", json.dumps(good), qos=1)
            await client.publish(f"coopgrid/solar/park-{coop}/inv-{coop}/telemetry", f"not json {coop}", qos=1)
    for _ in range(100):
        if len(platform.solar.rejected) >= 2 and platform.solar.accepted >= 2:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("telemetry did not arrive")


async def _token(platform: Platform, role: str, cooperative: str | None = None) -> str:
    token = new_token()
    await platform.store.tokens.create(role, role, cooperative, token_digest(token), datetime.now(UTC))
    return token


def _variants(
    path: str, own: dict[str, str], other: dict[str, str], sessions: dict[str, int]
) -> list[tuple[str, bool]]:
    """(path, names the other cooperative's object) for a path template."""
    params = re.findall(r"{(\w+)}", path)
    if not params:
        return [(path, False)]
    out = []
    for target, is_other in ((own, False), (other, True)):
        filled = path
        for param in params:
            if param == "session_id":
                value = str(sessions[target["cooperative_id"]])
            elif param == "action":
                value = "GetConfiguration"
            elif param == "token_id":
                value = "1"  # tokens belong to no cooperative: operators only
            elif param in ("transfer_id", "token", "name", "filename"):
                value = "1"  # a file request of none, or a file URL's token: refused, nothing to leak
            else:
                value = target[param]
            filled = filled.replace("{" + param + "}", value)
        out.append((filled, is_other))
    return out


async def _read(
    http: aiohttp.ClientSession, method: str, url: str, stream: bool, headers: dict[str, str]
) -> tuple[int, str]:
    async with http.request(method, url, json={} if method != "GET" else None, headers=headers) as response:
        if stream and response.status == 200:
            line = b""
            async with asyncio.timeout(5):
                while not line.startswith(b"data:"):
                    line = await response.content.readline()
            return response.status, line.decode()
        return response.status, await response.text()


async def test_no_route_shows_a_token_what_its_cooperative_does_not_own(platform: Platform) -> None:
    sessions = {}
    for coop in COOPS:
        sessions[f"coop-{coop}"] = await _charge(platform, coop)
    await _telemetry(platform)
    await asyncio.sleep(1.2)  # one housekeeping round: the live history of each cooperative
    tokens: dict[tuple[str, str | None], str] = {
        ("operator", None): OPERATOR_TOKEN,
        ("viewer", None): await _token(platform, "viewer"),
        **{("cooperative", c): await _token(platform, "cooperative", f"coop-{c}") for c in COOPS},
    }
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{platform.http_url}/api/openapi.json") as response:
            document = await response.json()
        operations = [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]
        assert len(operations) >= 25
        checked = 0
        for (path, method, op), ((role, coop), token) in itertools.product(operations, tokens.items()):
            if role == "operator" and method != "get":
                continue  # operators may change anything: nothing to leak, and nothing to change here
            own_coop = coop or "alpha"
            other_coop = "beta" if own_coop == "alpha" else "alpha"
            headers = {"Authorization": f"Bearer {token}"}
            stream = "text/event-stream" in json.dumps(op["responses"].get("200", {}))
            query_variants = [""]
            for parameter in op.get("parameters", []):
                if parameter["in"] == "query" and parameter["name"] in ("chargepoint", "site"):
                    key = "charge_point_id" if parameter["name"] == "chargepoint" else "site_id"
                    query_variants.append(f"?{parameter['name']}={names(other_coop)[key]}")
            for filled, names_other in _variants(path, names(own_coop), names(other_coop), sessions):
                for query in query_variants:
                    status, body = await _read(
                        http, method.upper(), platform.http_url + filled + query, stream, headers
                    )
                    where = (role, coop, method, filled + query, status)
                    assert status < 500, (*where, body[:300])
                    checked += 1
                    if role == "operator" or op.get("security") == []:
                        continue  # a public route (health, metrics, documents) answers every caller alike
                    if names_other and role == "cooperative":
                        assert status in (403, 404), (*where, body[:300])
                        continue
                    if role == "cooperative":
                        assert other_coop not in body, (*where, body[:500])
                    else:  # a viewer: charger status only
                        for owned in ("park-", "member-", "coop-", "inv-", "tag-"):
                            assert owned not in body, (*where, owned, body[:500])
                        if filled.startswith("/api/sessions") or "allocation" in filled or "report" in filled:
                            assert status == 403, where
    assert checked > 100
    # and the cooperative tokens do see their own
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {tokens[('cooperative', 'alpha')]}"}) as http:
        async with http.get(f"{platform.http_url}/api/sessions") as response:
            own = await response.json()
            assert [s["charge_point_id"] for s in own] == ["cp-alpha-1"]
            assert own[0]["account_id"] == "acc-alpha"
            assert own[0]["cost"]["tariff_id"] == "tariff-alpha"
        async with http.get(f"{platform.http_url}/api/tariffs") as response:
            assert [t["id"] for t in await response.json()] == ["tariff-alpha"]
        async with http.get(f"{platform.http_url}/api/live") as response:
            live = await response.json()
        assert [p["id"] for p in live["parks"]] == ["park-alpha"]
        assert [c["id"] for c in live["chargers"]] == ["cp-alpha-1"]
        assert list(live["allocations"]) == ["site-alpha"]
        assert live["solar_w"] == 4000.0
        async with http.get(f"{platform.http_url}/api/solar/rejects") as response:
            rejects = await response.json()
        assert [r["park_id"] for r in rejects["recent"]] == ["park-alpha"]
        assert sum(rejects["counts"].values()) == 1  # its own park's one refused payload, none of the other's
        async with http.get(f"{platform.http_url}/api/chargepoints") as response:
            assert [c["id"] for c in await response.json()] == ["cp-alpha-1"]
