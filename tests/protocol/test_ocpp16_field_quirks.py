"""Real-charger behaviour: reconnects, callbacks after boot, certificates, leniency, limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform

BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(
        tmp_path,
        ocpp={
            "safe_limit_a": 6.0,
            "heartbeat_interval_s": 1,
            "response_timeout_s": 1.0,
            "max_frame_bytes": 4096,
            "ca_cert": str(tmp_path / "ca.pem"),
            "ca_key": str(tmp_path / "ca.key"),
        },
        chargers=[
            {"id": "CP-A", "site_id": "site-a"},
            {"id": "CP-LENIENT", "site_id": "site-a", "lenient": True},
        ],
    )
    async with running_platform(settings) as running:
        yield running


async def receive(ws: aiohttp.ClientWebSocketResponse) -> list[Any]:
    return json.loads(await ws.receive_str(timeout=5))


async def boot(ws: aiohttp.ClientWebSocketResponse, rate_unit: str = "Current") -> list[list[Any]]:
    """Boot, then answer the central system's calls that follow; returns those calls."""
    await ws.send_str(json.dumps([2, "boot", "BootNotification", BOOT]))
    assert (await receive(ws))[2]["status"] == "Accepted"
    calls = []
    get_config = await receive(ws)
    calls.append(get_config)
    value = {"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": True, "value": rate_unit}
    await ws.send_str(json.dumps([3, get_config[1], {"configurationKey": [value]}]))
    profile = await receive(ws)
    calls.append(profile)
    await ws.send_str(json.dumps([3, profile[1], {"status": "Accepted"}]))
    return calls


async def test_after_boot_the_safe_default_profile_is_installed_without_deadlock(platform: Platform) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
    ):
        get_config, profile = await boot(ws)
        assert get_config[2:] == ["GetConfiguration", {"key": ["ChargingScheduleAllowedChargingRateUnit"]}]
        assert profile[2] == "SetChargingProfile"
        assert profile[3] == {
            "connectorId": 0,
            "csChargingProfiles": {
                "chargingProfileId": 2,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}],
                },
            },
        }
        # the receive loop stayed free while those calls were outstanding
        await ws.send_str(json.dumps([2, "hb", "Heartbeat", {}]))
        assert (await receive(ws))[:2] == [3, "hb"]


async def test_power_only_charger_gets_limits_in_watts(platform: Platform) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
    ):
        _, profile = await boot(ws, rate_unit="Power")
        schedule = profile[3]["csChargingProfiles"]["chargingSchedule"]
        assert schedule["chargingRateUnit"] == "W"
        assert schedule["chargingSchedulePeriod"][0]["limit"] == pytest.approx(6 * 3 * 230, abs=0.1)
        pending = asyncio.ensure_future(platform.central.set_current_limit("CP-A", 1, 10.0, transaction_id=7))
        call = await receive(ws)
        assert call[3]["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 6900.0
        assert call[3]["csChargingProfiles"]["transactionId"] == 7
        await ws.send_str(json.dumps([3, call[1], {"status": "Accepted"}]))
        assert await pending == "Accepted"


async def test_reconnect_replaces_the_old_connection(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        old = await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",))
        async with http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as new:
            closing = await old.receive(timeout=5)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            await new.send_str(json.dumps([2, "hb", "Heartbeat", {}]))
            assert (await receive(new))[:2] == [3, "hb"]
            assert platform.central.is_connected("CP-A")
        await old.close()
        for _ in range(50):
            if not platform.central.is_connected("CP-A"):
                break
            await asyncio.sleep(0.05)
        assert not platform.central.is_connected("CP-A")


def _csr() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CP-A")]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


async def test_sign_certificate_then_certificate_signed(platform: Platform) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
    ):
        await boot(ws)
        await ws.send_str(json.dumps([2, "sc", "SignCertificate", {"csr": _csr()}]))
        assert await receive(ws) == [3, "sc", {"status": "Accepted"}]
        signed = await receive(ws)
        assert signed[2] == "CertificateSigned"
        chain = x509.load_pem_x509_certificates(signed[3]["certificateChain"].encode())
        assert chain[0].subject.rfc4514_string() == "CN=CP-A"
        await ws.send_str(json.dumps([3, signed[1], {"status": "Accepted"}]))
        event = {"type": "FirmwareUpdated", "timestamp": "2026-01-01T00:00:00Z"}
        await ws.send_str(json.dumps([2, "se", "SecurityEventNotification", event]))
        assert await receive(ws) == [3, "se", {}]
        for _ in range(50):  # CertificateSigned is recorded once the charger's answer is in
            async with http.get(f"{platform.http_url}/api/chargepoints/CP-A/events") as response:
                kinds = {e["kind"] for e in await response.json()}
            if len(kinds) == 2:
                break
            await asyncio.sleep(0.05)
        assert kinds == {"SecurityEventNotification", "CertificateSigned"}


async def test_lenient_charger_is_repaired_strict_one_is_refused(platform: Platform) -> None:
    payload = {**BOOT, "chargePointSerialNumber": "X" * 33}
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws:
            await ws.send_str(json.dumps([2, "b", "BootNotification", payload]))
            assert (await receive(ws))[:3] == [4, "b", "TypeConstraintViolation"]
        async with http.ws_connect(f"{platform.ocpp_url}/CP-LENIENT", protocols=("ocpp1.6",)) as ws:
            await ws.send_str(json.dumps([2, "b", "BootNotification", payload]))
            assert (await receive(ws))[2]["status"] == "Accepted"
    await platform.central.flush()
    record = await platform.store.get_charger("CP-LENIENT")
    assert record is not None
    assert record.serial_number == "X" * 25
    assert platform.central.state("CP-LENIENT").quirks["BootNotification"] == 1


async def test_oversized_frame_closes_only_that_connection(platform: Platform) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-B", protocols=("ocpp1.6",)) as other,
    ):
        async with http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws:
            big = {"vendorId": "acme", "data": "x" * 8000}
            await ws.send_str(json.dumps([2, "big", "DataTransfer", big]))
            closing = await ws.receive(timeout=5)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
        await other.send_str(json.dumps([2, "hb", "Heartbeat", {}]))
        assert (await receive(other))[:2] == [3, "hb"]


async def test_silent_charger_is_pinged_then_dropped(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",), autoping=False)
        ping = await ws.receive(timeout=3)
        assert ping.type == aiohttp.WSMsgType.PING
        # never answer: after three heartbeat intervals (1 s each) the server closes
        while True:
            message = await ws.receive(timeout=6)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break
        assert not platform.central.is_connected("CP-A")
        await ws.close()


async def test_call_error_and_timeout_map_to_502_and_504(platform: Platform) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
    ):
        url = f"{platform.http_url}/api/chargepoints/CP-A/ocpp/UnlockConnector"
        pending = asyncio.ensure_future(http.post(url, json={"connectorId": 1}))
        call = await receive(ws)
        await ws.send_str(json.dumps([4, call[1], "InternalError", "stuck", {}]))
        response = await pending
        assert response.status == 502
        assert (await response.json())["error"]["code"] == "InternalError"
        timed_out = await http.post(url, json={"connectorId": 1})
        assert timed_out.status == 504
        await receive(ws)  # the unanswered call


async def test_send_local_list_from_the_id_tag_table(platform: Platform) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
    ):
        pending = asyncio.ensure_future(http.post(f"{platform.http_url}/api/chargepoints/CP-A/local-list"))
        asked = await receive(ws)
        assert asked[2:] == ["GetLocalListVersion", {}]
        await ws.send_str(json.dumps([3, asked[1], {"listVersion": 0}]))  # it holds none: a Full list
        call = await receive(ws)
        assert call[2] == "SendLocalList"
        entries = {e["idTag"]: e["idTagInfo"]["status"] for e in call[3]["localAuthorizationList"]}
        assert entries == {"TAG-OK": "Accepted", "TAG-BLOCKED": "Blocked"}
        assert call[3]["updateType"] == "Full"
        await ws.send_str(json.dumps([3, call[1], {"status": "Accepted"}]))
        response = await pending
        assert response.status == 200
        assert (await response.json())["status"] == "Accepted"
