"""OCPP 2.1 (subprotocol ocpp2.1) over a real loopback WebSocket: what 2.0.1 does, on the 2.1 schemas, behind
the same REST, sessions and scheduler; exact frames."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from chargepoints.validation import validator
from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.test_registration import BOOT_201, STATUS_201, Raw, rest
from tests.protocol.test_reservations import tx_event


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(tmp_path, ocpp={"safe_limit_a": 6.0, "unknown_chargers": "pending"})
    async with running_platform(settings) as running:
        yield running


async def station(http: aiohttp.ClientSession, platform: Platform, charger: str = "CP-A") -> Raw:
    ws = await http.ws_connect(f"{platform.ocpp_url}/{charger}", protocols=("ocpp2.1", "ocpp2.0.1"))
    assert ws.protocol == "ocpp2.1"  # the charger's first offer we speak
    return Raw(ws)


async def test_21_boot_status_transaction_and_rest(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await station(http, platform)
        boot = await raw.call("b", "BootNotification", BOOT_201)
        assert boot[2]["status"] == "Accepted"
        assert (await raw.call("s", "StatusNotification", STATUS_201))[:3] == [3, "s", {}]
        async with http.get(f"{platform.http_url}/api/chargepoints/CP-A") as response:
            view = await response.json()
        assert (view["ocpp_version"], view["connectors"]["1"]["status"]) == ("2.1", "Available")
        meter = [{"timestamp": "2026-03-01T12:00:00Z", "sampledValue": [{"value": 1500.0}]}]
        started = await raw.call("t1", "TransactionEvent", tx_event("Started", 0, "TAG-OK", meterValue=meter))
        assert started[2] == {"idTokenInfo": {"status": "Accepted"}}
        ended = tx_event("Ended", 1, None, meterValue=[{**meter[0], "sampledValue": [{"value": 4000.0}]}])
        ended["transactionInfo"] = started_info = {"transactionId": "tx-TAG-OK-0", "stoppedReason": "EVDisconnected"}
        assert (await raw.call("t2", "TransactionEvent", ended))[:3] == [3, "t2", {}]
        async with http.get(f"{platform.http_url}/api/sessions?chargepoint=CP-A") as response:
            sessions = await response.json()
        session = next(s for s in sessions if s["id"] == started_info["transactionId"])
        assert session["energy_wh"] == 2500.0
        # the safe default profile sent after the boot fits the 2.1 schema (it was validated before sending)
        profiles = [c for c in raw.calls if c[2] == "SetChargingProfile"]
        assert profiles
        validator("2.1", "SetChargingProfile")(profiles[0][3])
        # a limit from REST goes out as a 2.1 SetChargingProfile
        status, answer = await rest(
            http, raw, "post", f"{platform.http_url}/api/chargepoints/CP-A/limit", {"limit_a": 10}
        )
        assert (status, answer) == (200, {"status": "Accepted"})
        await raw.ws.close()


async def test_21_frames_errors_spelled_as_21_spells_them(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await station(http, platform)
        await raw.call("b", "BootNotification", BOOT_201)
        missing = await raw.call("x1", "Authorize", {})
        assert missing[:3] == [4, "x1", "OccurrenceConstraintViolation"]  # 2.0.1: "Occurence"
        notified = {"tbc": False}
        assert (await raw.call("x2", "NotifyPriorityCharging", notified))[2] in (
            "NotSupported",
            "OccurrenceConstraintViolation",
        )
        unknown = await raw.call("x3", "NoSuchAction", {})
        assert unknown[:3] == [4, "x3", "NotImplemented"]
        await raw.ws.close()


async def test_21_pending_station_gets_security_errors(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await station(http, platform, "CP-NEW21")
        boot = await raw.call("b", "BootNotification", BOOT_201)
        assert boot[2]["status"] == "Pending"
        assert (await raw.call("s", "StatusNotification", STATUS_201))[:3] == [4, "s", "SecurityError"]
        await raw.ws.close()


async def test_21_device_model_split_from_rest(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await station(http, platform)
        await raw.call("b", "BootNotification", BOOT_201)
        data = {
            "component": {"name": "DeviceDataCtrlr"},
            "variable": {"name": "ItemsPerMessage", "instance": "GetVariables"},
            "variableAttribute": [{"type": "Actual", "value": "1"}],
        }
        report = {"requestId": 1, "generatedAt": "2026-03-01T12:00:00Z", "seqNo": 0, "reportData": [data]}
        assert (await raw.call("r", "NotifyReport", report))[:3] == [3, "r", {}]
        await asyncio.sleep(0)
        raw.calls.clear()
        ask = {"getVariableData": [{"component": {"name": "C"}, "variable": {"name": f"V{i}"}} for i in range(3)]}
        status, body = await rest(
            http, raw, "post", f"{platform.http_url}/api/chargepoints/CP-A/ocpp/GetVariables", ask
        )
        assert status == 200, body
        assert [len(c[3]["getVariableData"]) for c in raw.calls if c[2] == "GetVariables"][-3:] == [1, 1, 1]
        await raw.ws.close()
