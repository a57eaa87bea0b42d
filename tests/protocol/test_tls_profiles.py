"""Security profiles 2 (TLS + Basic) and 3 (mutual TLS, CN = charger id) with certificates made here."""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.platform import Platform
from tests.fixtures.certs import Pki, tls_http
from tests.fixtures.platform import make_settings, running_platform

PASSWORD = "a-password-of-twenty-chars"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.create(tmp_path)


@pytest.fixture
async def platform(tmp_path: Path, pki: Pki) -> AsyncIterator[Platform]:
    settings = make_settings(
        tmp_path,
        http=tls_http(pki),
        chargers=[
            {"id": "CP-P2", "site_id": "site-a", "security_profile": 2, "password": PASSWORD},
            {"id": "CP-P3", "site_id": "site-a", "security_profile": 3},
        ],
    )
    async with running_platform(settings) as running:
        assert running.ocpp_url.startswith("wss://")
        yield running


def client_context(pki: Pki, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_path))
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    return context


async def boots(ws: aiohttp.ClientWebSocketResponse) -> str:
    await ws.send_str(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
    return str(json.loads(await ws.receive_str(timeout=5))[2]["status"])


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_profile_2_tls_with_basic_auth(platform: Platform, pki: Pki) -> None:
    url = f"{platform.ocpp_url}/CP-P2"
    async with aiohttp.ClientSession() as http:
        context = client_context(pki)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url, protocols=("ocpp1.6",), ssl=context)
        assert refused.value.status == 401
        async with http.ws_connect(url, protocols=("ocpp1.6",), ssl=context, headers=basic("CP-P2", PASSWORD)) as ws:
            assert await boots(ws) == "Accepted"


async def test_plain_text_is_refused_on_a_tls_listener(platform: Platform) -> None:
    plain = platform.ocpp_url.replace("wss://", "ws://") + "/CP-P2"
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError):
            await http.ws_connect(plain, protocols=("ocpp1.6",), headers=basic("CP-P2", PASSWORD))


async def test_profile_3_needs_a_client_certificate_naming_the_charger(platform: Platform, pki: Pki) -> None:
    url = f"{platform.ocpp_url}/CP-P3"
    async with aiohttp.ClientSession() as http:
        for context in (client_context(pki), client_context(pki, pki.issue("CP-SOMEONE-ELSE"))):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(url, protocols=("ocpp1.6",), ssl=context)
            assert refused.value.status == 401
        own = client_context(pki, pki.issue("CP-P3"))
        async with http.ws_connect(url, protocols=("ocpp1.6",), ssl=own) as ws:
            assert await boots(ws) == "Accepted"


async def test_a_certificate_from_another_ca_is_refused_at_the_tls_layer(
    platform: Platform, pki: Pki, tmp_path: Path
) -> None:
    (tmp_path / "other").mkdir()
    stranger = Pki.create(tmp_path / "other")
    context = client_context(pki, stranger.issue("CP-P3"))
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError):
            await http.ws_connect(f"{platform.ocpp_url}/CP-P3", protocols=("ocpp1.6",), ssl=context)
