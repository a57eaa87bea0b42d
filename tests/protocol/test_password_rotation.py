"""Password rotation (security profile 1) for both versions over real sockets: the new password is kept once
the charger accepts it; the old and the new both open until the charger connects with the new; then only
the new does."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.test_registration import Raw, rest

OLD = "the-old-password-0001"
NEW = "the-new-password-0002"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(
        tmp_path,
        chargers=[
            {"id": "CP-16", "site_id": "site-a", "security_profile": 1, "password": OLD},
            {"id": "CP-201", "site_id": "site-a", "security_profile": 1, "password": OLD},
        ],
    )
    async with running_platform(settings) as running:
        yield running


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def opens(http: aiohttp.ClientSession, platform: Platform, charger: str, password: str, protocol: str) -> bool:
    try:
        ws = await http.ws_connect(
            f"{platform.ocpp_url}/{charger}", protocols=(protocol,), headers=basic(charger, password)
        )
    except aiohttp.WSServerHandshakeError as refused:
        if refused.status != 401:
            raise
        return False
    await ws.close()
    return True


def change_16(password: str) -> tuple[str, dict[str, Any]]:
    return "ChangeConfiguration", {"key": "AuthorizationKey", "value": password}


def change_201(password: str) -> tuple[str, dict[str, Any]]:
    data = {
        "component": {"name": "SecurityCtrlr"},
        "variable": {"name": "BasicAuthPassword"},
        "attributeValue": password,
    }
    return "SetVariables", {"setVariableData": [data]}


CASES = [("CP-16", "ocpp1.6", change_16), ("CP-201", "ocpp2.0.1", change_201)]


def answer(action: str, status: str) -> dict[str, Any]:
    if action == "SetVariables":
        result = {
            "attributeStatus": status,
            "component": {"name": "SecurityCtrlr"},
            "variable": {"name": "BasicAuthPassword"},
        }
        return {"setVariableResult": [result]}
    return {"status": status}


@pytest.mark.parametrize(("charger", "protocol", "change"), CASES)
async def test_old_and_new_open_until_the_new_is_used(
    platform: Platform, charger: str, protocol: str, change: Any
) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{platform.ocpp_url}/{charger}", protocols=(protocol,), headers=basic(charger, OLD))
        raw = Raw(ws)
        action, payload = change(NEW)
        raw.answers[action] = answer(action, "Accepted")
        status, _ = await rest(
            http, raw, "post", f"{platform.http_url}/api/chargepoints/{charger}/ocpp/{action}", payload
        )
        assert status == 200
        await ws.close()
        assert await opens(http, platform, charger, OLD, protocol)  # not yet reconnected with the new
        assert await opens(http, platform, charger, NEW, protocol)
        assert not await opens(http, platform, charger, OLD, protocol)  # the new one used: the old is gone
        assert await opens(http, platform, charger, NEW, protocol)
        async with http.get(f"{platform.http_url}/api/chargepoints/{charger}/events") as response:
            text = await response.text()
        assert "PasswordAccepted" in text
        assert NEW not in text


@pytest.mark.parametrize(("charger", "protocol", "change"), CASES)
async def test_a_refused_change_keeps_the_old_password_only(
    platform: Platform, charger: str, protocol: str, change: Any
) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{platform.ocpp_url}/{charger}", protocols=(protocol,), headers=basic(charger, OLD))
        raw = Raw(ws)
        action, payload = change(NEW)
        raw.answers[action] = answer(action, "Rejected")
        status, _ = await rest(
            http, raw, "post", f"{platform.http_url}/api/chargepoints/{charger}/ocpp/{action}", payload
        )
        assert status == 200
        # a password that is not one is refused before anything is sent, naming the field
        short_action, short = change("short")
        status, body = await rest(
            http, raw, "post", f"{platform.http_url}/api/chargepoints/{charger}/ocpp/{short_action}", short
        )
        assert status == 422
        assert "16-40" in body["error"]["message"]
        assert [c[2] for c in raw.calls] == [action]
        await ws.close()
        assert not await opens(http, platform, charger, NEW, protocol)
        assert await opens(http, platform, charger, OLD, protocol)
