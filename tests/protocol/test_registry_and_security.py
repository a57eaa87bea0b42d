"""Registry over REST, id tags, security profile 1 (HTTP Basic) and unknown-charger policies."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform

PASSWORD = "correct-horse-battery-1"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(
        tmp_path,
        ocpp={"unknown_chargers": "pending"},
        chargers=[
            {"id": "CP-A", "site_id": "site-a"},
            {"id": "CP-SEC", "site_id": "site-a", "security_profile": 1, "password": PASSWORD},
        ],
    )
    async with running_platform(settings) as running:
        yield running


async def _boot(ws: aiohttp.ClientWebSocketResponse) -> dict[str, object]:
    await ws.send_str(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
    frame = json.loads(await ws.receive_str(timeout=5))
    return frame[2]


async def test_profile_1_needs_the_right_basic_credentials(platform: Platform) -> None:
    url = f"{platform.ocpp_url}/CP-SEC"
    async with aiohttp.ClientSession() as http:
        for headers in ({}, basic("CP-SEC", "wrong-password-000000"), basic("CP-A", PASSWORD)):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(url, protocols=("ocpp1.6",), headers=headers)
            assert info.value.status == 401
        async with http.ws_connect(url, protocols=("ocpp1.6",), headers=basic("CP-SEC", PASSWORD)) as ws:
            assert (await _boot(ws))["status"] == "Accepted"


async def test_unknown_charger_is_pending_until_an_operator_accepts(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{platform.ocpp_url}/CP-NEW", protocols=("ocpp1.6",)) as ws:
            assert (await _boot(ws))["status"] == "Pending"
        async with http.get(f"{platform.http_url}/api/chargepoints/CP-NEW") as response:
            assert (await response.json())["registration"] == "Pending"
        async with http.patch(
            f"{platform.http_url}/api/chargepoints/CP-NEW", json={"registration": "Accepted"}
        ) as response:
            assert response.status == 200
            assert (await response.json())["registration"] == "Accepted"
        async with http.ws_connect(f"{platform.ocpp_url}/CP-NEW", protocols=("ocpp1.6",)) as ws:
            assert (await _boot(ws))["status"] == "Accepted"


async def test_register_charger_over_rest_with_profile_1(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        api = f"{platform.http_url}/api/chargepoints"
        async with http.post(api, json={"id": "CP-R", "security_profile": 1}) as response:
            assert response.status == 422  # profile 1 without a password
        async with http.post(api, json={"id": "CP-R", "security_profile": 1, "password": "short"}) as response:
            assert response.status == 422
        body = {"id": "CP-R", "security_profile": 1, "password": PASSWORD, "site_id": "site-a"}
        async with http.post(api, json=body) as response:
            assert response.status == 201
            view = await response.json()
            assert view["id"] == "CP-R"
            assert "password" not in json.dumps(view)
        async with http.post(api, json=body) as response:
            assert response.status == 409
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(f"{platform.ocpp_url}/CP-R", protocols=("ocpp1.6",))
        async with http.ws_connect(
            f"{platform.ocpp_url}/CP-R", protocols=("ocpp1.6",), headers=basic("CP-R", PASSWORD)
        ) as ws:
            assert (await _boot(ws))["status"] == "Accepted"


async def test_id_tags_crud_drives_authorize(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        api = f"{platform.http_url}/api/id-tags/RFID-1"
        async with http.put(api, json={"status": "Accepted", "group_id": "FLEET"}) as response:
            assert response.status == 201
            assert (await response.json())["group_id"] == "FLEET"
        async with http.put(api, json={"status": "Bogus"}) as response:
            assert response.status == 422
            assert (await response.json())["error"]["code"] == "InvalidBody"
        async with http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws:
            await ws.send_str(json.dumps([2, "1", "Authorize", {"idTag": "RFID-1"}]))
            accepted = {"idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET"}}
            assert json.loads(await ws.receive_str(timeout=5))[2] == accepted
            async with http.put(api, json={"status": "Blocked"}) as response:
                assert response.status == 200
            await ws.send_str(json.dumps([2, "2", "Authorize", {"idTag": "RFID-1"}]))
            assert json.loads(await ws.receive_str(timeout=5))[2] == {"idTagInfo": {"status": "Blocked"}}
            async with http.delete(api) as response:
                assert response.status == 204
            await ws.send_str(json.dumps([2, "3", "Authorize", {"idTag": "RFID-1"}]))
            assert json.loads(await ws.receive_str(timeout=5))[2] == {"idTagInfo": {"status": "Invalid"}}
        async with http.get(api) as response:
            assert response.status == 404
