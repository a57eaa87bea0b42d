"""Security-profile upgrades from REST, over real wss:// sockets: the charger is told (1.6 ChangeConfiguration
SecurityProfile; 2.0.1 SetNetworkProfile, NetworkConfigurationPriority, Reset), both profiles open until it
reconnects with the new one, and from then on the old one is refused."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chargepoints.security_profiles import UpgradeRefused, check_upgrade, upgrade_calls
from gateway.platform import Platform
from tests.fixtures.certs import Pki, tls_http
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.test_tls_profiles import basic, client_context

PASSWORD = "a-password-of-twenty-chars"
BOOTS = {
    "ocpp1.6": ("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}),
    "ocpp2.0.1": ("BootNotification", {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}),
}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Platform, Pki]]:
    pki = Pki.create(tmp_path)
    chargers = [
        {"id": cp, "site_id": "site-a", "security_profile": 2, "password": PASSWORD}
        for cp in ("CP-U16", "CP-U201", "CP-NO")
    ]
    async with running_platform(make_settings(tmp_path, http=tls_http(pki), chargers=chargers)) as platform:
        yield platform, pki


class Station:
    """A raw-frame charger that answers the central system's calls as told and keeps them."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, answers: dict[str, dict[str, Any]]) -> None:
        self.ws, self.answers = ws, answers
        self.calls: list[list[Any]] = []
        self._task = asyncio.create_task(self._answer())

    async def _answer(self) -> None:
        async for message in self.ws:
            frame = json.loads(message.data)
            if frame[0] == 2:
                self.calls.append(frame)
                default: dict[str, Any] = {"status": "Accepted"}
                if frame[2] == "GetConfiguration":
                    default = {"configurationKey": []}
                if frame[2] in ("GetVariables", "SetVariables"):
                    kind = "getVariable" if frame[2] == "GetVariables" else "setVariable"
                    status = "Rejected" if kind == "getVariable" else "Accepted"
                    default = {f"{kind}Result": [
                        {"attributeStatus": status, "component": r["component"], "variable": r["variable"]}
                        for r in frame[3][f"{kind}Data"]]}  # fmt: skip
                await self.ws.send_str(json.dumps([3, frame[1], self.answers.get(frame[2], default)]))

    def sent(self, action: str) -> list[dict[str, Any]]:
        return [frame[3] for frame in self.calls if frame[2] == action]

    async def close(self) -> None:
        await self.ws.close()
        self._task.cancel()


async def connect(
    http: aiohttp.ClientSession, platform: Platform, cp: str, subprotocol: str, context: ssl.SSLContext, **kw: Any
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(f"{platform.ocpp_url}/{cp}", protocols=(subprotocol,), ssl=context, **kw)
    action, payload = BOOTS[subprotocol]
    await ws.send_str(json.dumps([2, "boot", action, payload]))
    while True:
        frame = json.loads(await ws.receive_str(timeout=5))
        if frame[0] == 3 and frame[1] == "boot":
            assert frame[2]["status"] == "Accepted"
            return ws
        if frame[0] == 2:  # the configuration after a boot: accepted
            await ws.send_str(json.dumps([3, frame[1], {"status": "Accepted"}]))


async def refused(http: aiohttp.ClientSession, platform: Platform, cp: str, context: ssl.SSLContext, **kw: Any) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refusal:
        await http.ws_connect(f"{platform.ocpp_url}/{cp}", protocols=("ocpp1.6", "ocpp2.0.1"), ssl=context, **kw)
    return refusal.value.status


async def upgrade(http: aiohttp.ClientSession, platform: Platform, cp: str, body: dict[str, Any]) -> tuple[int, Any]:
    url = f"{platform.http_url}/api/chargepoints/{cp}/security-profile"
    async with http.post(url, json=body, ssl=False) as response:
        return response.status, await response.json()


@pytest.mark.parametrize(("cp", "subprotocol"), [("CP-U16", "ocpp1.6"), ("CP-U201", "ocpp2.0.1")])
async def test_profile_2_to_3_over_ocpp_then_the_old_profile_is_refused(
    served: tuple[Platform, Pki], cp: str, subprotocol: str
) -> None:
    platform, pki = served
    tls = client_context(pki)
    own_certificate = client_context(pki, pki.issue(cp))
    async with aiohttp.ClientSession() as http:
        station = Station(await connect(http, platform, cp, subprotocol, tls, headers=basic(cp, PASSWORD)), {})
        status, answer = await upgrade(http, platform, cp, {"profile": 3})
        assert status == 200, answer
        assert (answer["status"], answer["profile"], answer["pending_profile"]) == ("Accepted", 2, 3)
        if subprotocol == "ocpp1.6":
            assert station.sent("ChangeConfiguration")[-1] == {"key": "SecurityProfile", "value": "3"}
        else:
            (network,) = station.sent("SetNetworkProfile")
            assert network["configurationSlot"] == 1
            assert network["connectionData"]["securityProfile"] == 3
            assert network["connectionData"]["ocppCsmsUrl"] == platform.ocpp_url.replace("https", "wss") + "/"
            priority = station.sent("SetVariables")[-1]["setVariableData"][0]
            assert (priority["variable"]["name"], priority["attributeValue"]) == ("NetworkConfigurationPriority", "1")
            assert station.sent("Reset") == [{"type": "OnIdle"}]
        await station.close()
        # until it uses the new profile, the old one still opens (a station may take a while to reconnect)
        ws = await connect(http, platform, cp, subprotocol, tls, headers=basic(cp, PASSWORD))
        await ws.close()
        # it reconnects with its client certificate: from now on profile 3 only
        ws = await connect(http, platform, cp, subprotocol, own_certificate)
        await ws.close()
        assert await refused(http, platform, cp, tls, headers=basic(cp, PASSWORD)) == 401
        status, answer = await upgrade(http, platform, cp, {"profile": 3})
        assert (status, answer["error"]["code"]) == (409, "UpgradeRefused")  # profiles only go up
        ws = await connect(http, platform, cp, subprotocol, own_certificate)
        await ws.close()


async def test_a_station_that_refuses_the_network_profile_keeps_its_profile(served: tuple[Platform, Pki]) -> None:
    platform, pki = served
    tls = client_context(pki)
    async with aiohttp.ClientSession() as http:
        ws = await connect(http, platform, "CP-NO", "ocpp2.0.1", tls, headers=basic("CP-NO", PASSWORD))
        station = Station(ws, {"SetNetworkProfile": {"status": "Rejected"}})
        status, answer = await upgrade(http, platform, "CP-NO", {"profile": 3})
        assert (status, answer["status"], answer["profile"]) == (200, "Rejected", 2)
        assert "pending_profile" not in answer
        assert station.sent("Reset") == []  # nothing after a refused step
        await station.close()
        assert await refused(http, platform, "CP-NO", client_context(pki, pki.issue("CP-NO"))) == 401
        assert (await upgrade(http, platform, "CP-NOBODY", {"profile": 3}))[0] == 404
        assert (await upgrade(http, platform, "CP-NO", {"profile": 4}))[0] == 422


@pytest.mark.parametrize(
    ("current", "wanted", "tls", "password", "why"),
    [
        (2, 2, True, True, "only go up"),
        (3, 2, True, True, "only go up"),
        (1, 2, False, True, "needs wss://"),
        (0, 1, False, False, "needs the charger's password"),
        (1, 4, True, True, "does not exist"),
    ],
)
def test_upgrades_that_cannot_be_asked_for(current: int, wanted: int, tls: bool, password: bool, why: str) -> None:
    with pytest.raises(UpgradeRefused, match=why):
        check_upgrade(current, wanted, tls=tls, has_password=password)


def test_what_each_version_is_sent() -> None:
    assert upgrade_calls("1.6", 2, "wss://x/ocpp/") == [
        ("ChangeConfiguration", {"key": "SecurityProfile", "value": "2"})
    ]
    assert [action for action, _ in upgrade_calls("2.1", 3, "wss://x/ocpp/", 2)] == [
        "SetNetworkProfile", "SetVariables", "Reset",
    ]  # fmt: skip
    assert upgrade_calls("2.1", 3, "wss://x/ocpp/", 2)[0][1]["connectionData"]["ocppVersion"] == "OCPP21"
