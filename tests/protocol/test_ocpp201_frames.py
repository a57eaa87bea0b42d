"""OCPP 2.0.1 over a real loopback WebSocket: exact frames in and out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW_ISO = "2026-03-01T12:00:00Z"
BOOT = {"chargingStation": {"model": "M2", "vendorName": "V2", "serialNumber": "SN-1"}, "reason": "PowerUp"}


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(tmp_path, ocpp={"safe_limit_a": 6.0})
    async with running_platform(settings) as running:
        running.central.now = lambda: NOW
        yield running


class Station:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.server_calls: list[list[Any]] = []
        self.rate_unit = "A"

    async def call(self, unique_id: str, action: str, payload: dict[str, Any]) -> list[Any]:
        await self.ws.send_str(json.dumps([2, unique_id, action, payload]))
        while True:
            frame = json.loads(await self.ws.receive_str(timeout=5))
            if frame[0] != 2:
                return frame
            await self.answer(frame)

    async def answer(self, frame: list[Any]) -> None:
        self.server_calls.append(frame)
        if frame[2] == "GetVariables":
            reply: dict[str, Any] = {
                "getVariableResult": [
                    {
                        "attributeStatus": "Accepted",
                        "attributeValue": self.rate_unit,
                        "component": {"name": "SmartChargingCtrlr"},
                        "variable": {"name": "RateUnit"},
                    }
                ]
            }
        else:
            reply = {"status": "Accepted"}
        await self.ws.send_str(json.dumps([3, frame[1], reply]))


@pytest.fixture
async def station(platform: Platform) -> AsyncIterator[Station]:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp2.0.1", "ocpp1.6")) as ws,
    ):
        assert ws.protocol == "ocpp2.0.1"
        yield Station(ws)


def tx_event(event_type: str, seq_no: int, energy_wh: float | None, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": f"2026-03-01T11:{10 + seq_no:02d}:00Z",
        "triggerReason": {"Started": "Authorized", "Updated": "MeterValuePeriodic", "Ended": "EVDeparted"}[event_type],
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "tx-abc-1", **extra.pop("info", {})},
        "evse": {"id": 1, "connectorId": 1},
        **extra,
    }
    if energy_wh is not None:
        payload["meterValue"] = [
            {
                "timestamp": payload["timestamp"],
                "sampledValue": [
                    {
                        "value": energy_wh / 1000,
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "kWh"},
                    },
                    {"value": 7200, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
                ],
            }
        ]
    return payload


async def test_boot_then_safe_default_profile(station: Station, platform: Platform) -> None:
    assert await station.call("b", "BootNotification", BOOT) == [
        3,
        "b",
        {"currentTime": NOW_ISO, "interval": 300, "status": "Accepted"},
    ]
    # after the reply: GetVariables(RateUnit), then a TxDefaultProfile on EVSE 0
    assert await station.call("h", "Heartbeat", {}) == [3, "h", {"currentTime": NOW_ISO}]
    for _ in range(40):
        if len(station.server_calls) == 2:
            break
        frame = json.loads(await station.ws.receive_str(timeout=5))
        await station.answer(frame)
    get_variables, profile = station.server_calls
    assert get_variables[2] == "GetVariables"
    assert profile[2:] == [
        "SetChargingProfile",
        {
            "evseId": 0,
            "chargingProfile": {
                "id": 2,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": [
                    {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}]}
                ],
            },
        },
    ]
    await platform.central.flush()
    record = await platform.store.get_charger("CP-A")
    assert record is not None
    assert (record.vendor, record.model, record.ocpp_version) == ("V2", "M2", "2.0.1")


async def test_status_authorize_and_unknown_token(station: Station, platform: Platform) -> None:
    status = {"timestamp": NOW_ISO, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
    assert await station.call("s", "StatusNotification", status) == [3, "s", {}]
    assert platform.central.state("CP-A").connectors == {1: "Occupied"}
    ok = await station.call("a1", "Authorize", {"idToken": {"idToken": "TAG-OK", "type": "ISO14443"}})
    unknown = await station.call("a2", "Authorize", {"idToken": {"idToken": "NOBODY", "type": "ISO14443"}})
    assert ok == [3, "a1", {"idTokenInfo": {"status": "Accepted"}}]
    assert unknown == [3, "a2", {"idTokenInfo": {"status": "Unknown"}}]


async def test_transaction_events_with_duplicates_and_seq_no(station: Station, platform: Platform) -> None:
    started = tx_event("Started", 0, 1000.0, idToken={"idToken": "TAG-OK", "type": "ISO14443"})
    assert await station.call("t0", "TransactionEvent", started) == [3, "t0", {"idTokenInfo": {"status": "Accepted"}}]
    assert await station.call("t0b", "TransactionEvent", started) == [3, "t0b", {"idTokenInfo": {"status": "Accepted"}}]
    updated = tx_event("Updated", 1, 2500.0)
    assert await station.call("t1", "TransactionEvent", updated) == [3, "t1", {}]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{platform.http_url}/api/sessions/tx-abc-1") as response:
            view = await response.json()
        assert view["id"] == "tx-abc-1"
        assert view["active"] is True
        assert view["energy_wh"] == 1500.0
        # a resent older event changes nothing
        stale = tx_event("Updated", 1, 9999.0)
        assert await station.call("t1b", "TransactionEvent", stale) == [3, "t1b", {}]
        ended = tx_event("Ended", 2, 4000.0, info={"stoppedReason": "EVDisconnected"})
        assert await station.call("t2", "TransactionEvent", ended) == [3, "t2", {}]
        assert await station.call("t2b", "TransactionEvent", ended) == [3, "t2b", {}]
        async with http.get(f"{platform.http_url}/api/sessions?chargepoint=CP-A") as response:
            sessions = await response.json()
    assert len(sessions) == 1
    assert sessions[0]["energy_wh"] == 3000.0
    assert sessions[0]["stop_reason"] == "EVDisconnected"


async def test_offline_transaction_first_heard_as_ended(station: Station, platform: Platform) -> None:
    ended = tx_event("Ended", 5, 800.0, offline=True, info={"stoppedReason": "Local"})
    assert await station.call("o", "TransactionEvent", ended) == [3, "o", {}]
    records = await platform.store.list_transactions(charge_point_id="CP-A")
    assert len(records) == 1
    assert not records[0].active


async def test_notify_report_is_stored_as_device_model(station: Station, platform: Platform) -> None:
    report = {
        "requestId": 1,
        "generatedAt": NOW_ISO,
        "seqNo": 0,
        "reportData": [
            {
                "component": {"name": "SmartChargingCtrlr"},
                "variable": {"name": "RateUnit"},
                "variableAttribute": [{"type": "Actual", "value": "A,W", "mutability": "ReadOnly"}],
            }
        ],
    }
    assert await station.call("r", "NotifyReport", report) == [3, "r", {}]
    variables = await platform.store.list_variables("CP-A")
    assert variables == [
        {
            "component": "SmartChargingCtrlr",
            "variable": "RateUnit",
            "attribute": "Actual",
            "value": "A,W",
            "mutability": "ReadOnly",
        }
    ]


async def test_scheduler_limit_becomes_a_201_tx_profile(station: Station, platform: Platform) -> None:
    started = tx_event("Started", 0, 0.0, idToken={"idToken": "TAG-OK", "type": "ISO14443"})
    await station.call("t0", "TransactionEvent", started)
    record = await platform.store.find_transaction_201("CP-A", "tx-abc-1")
    assert record is not None
    pending = asyncio.ensure_future(platform.central.set_current_limit("CP-A", 1, 10.0, record.id))
    call = json.loads(await station.ws.receive_str(timeout=5))
    profile = call[3]["chargingProfile"]
    assert call[3]["evseId"] == 1
    assert profile["transactionId"] == "tx-abc-1"
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["chargingSchedule"][0]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 10.0}]
    await station.ws.send_str(json.dumps([3, call[1], {"status": "Accepted"}]))
    assert await pending == "Accepted"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("nope", "FormatViolation"),
        ('[2, "x"]', "RpcFrameworkError"),
        ('[9, "x", "Heartbeat", {}]', "MessageTypeNotSupported"),
        ('[2, "x", "Heartbeat", {"bogus": 1}]', "FormatViolation"),
        ('[2, "x", "Authorize", {}]', "OccurenceConstraintViolation"),
        ('[2, "x", "NoSuchThing", {}]', "NotImplemented"),
        (
            '[2, "x", "RequestStartTransaction", {"idToken": {"idToken": "a", "type": "Central"}, "remoteStartId": 1}]',
            "NotSupported",
        ),
    ],
)
async def test_malformed_201_frames(station: Station, frame: str, code: str) -> None:
    await station.ws.send_str(frame)
    answer = json.loads(await station.ws.receive_str(timeout=5))
    assert answer[0] == 4
    assert answer[2] == code
    assert await station.call("alive", "Heartbeat", {}) == [3, "alive", {"currentTime": NOW_ISO}]
