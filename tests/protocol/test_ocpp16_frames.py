"""OCPP 1.6J over a real loopback WebSocket: exact frames in, exact frames out."""

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


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(tmp_path)
    async with running_platform(settings) as running:
        running.central.now = lambda: NOW
        yield running


class Charger:
    """A raw OCPP-J client: frames as Python lists, nothing hidden."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.server_calls: list[list[Any]] = []

    async def send_raw(self, text: str) -> list[Any]:
        """Send a frame; answer the central system's own calls meanwhile; return its answer."""
        await self.ws.send_str(text)
        while True:
            frame = json.loads(await self.ws.receive_str(timeout=5))
            if frame[0] != 2:
                return frame
            self.server_calls.append(frame)
            reply: dict[str, object] = (
                {"configurationKey": []} if frame[2] == "GetConfiguration" else {"status": "Accepted"}
            )
            await self.ws.send_str(json.dumps([3, frame[1], reply]))

    async def call(self, unique_id: str, action: str, payload: dict[str, Any]) -> list[Any]:
        return await self.send_raw(json.dumps([2, unique_id, action, payload]))


@pytest.fixture
async def charger(platform: Platform) -> AsyncIterator[Charger]:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
    ):
        assert ws.protocol == "ocpp1.6"
        yield Charger(ws)


async def test_boot_heartbeat_status(charger: Charger, platform: Platform) -> None:
    boot = await charger.call("1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    assert boot == [3, "1", {"currentTime": NOW_ISO, "interval": 300, "status": "Accepted"}]
    assert await charger.call("2", "Heartbeat", {}) == [3, "2", {"currentTime": NOW_ISO}]
    status = {"connectorId": 1, "errorCode": "NoError", "status": "Preparing"}
    assert await charger.call("3", "StatusNotification", status) == [3, "3", {}]
    state = platform.central.state("CP-A")
    assert state.connected
    assert state.connectors == {1: "Preparing"}
    await platform.central.flush()
    record = await platform.store.get_charger("CP-A")
    assert record is not None
    assert (record.vendor, record.model, record.ocpp_version) == ("V", "M", "1.6")


async def test_authorize_answers_from_the_id_tag_table(charger: Charger) -> None:
    ok = await charger.call("a", "Authorize", {"idTag": "TAG-OK"})
    blocked = await charger.call("b", "Authorize", {"idTag": "TAG-BLOCKED"})
    unknown = await charger.call("c", "Authorize", {"idTag": "NOBODY"})
    assert ok == [3, "a", {"idTagInfo": {"status": "Accepted"}}]
    assert blocked == [3, "b", {"idTagInfo": {"status": "Blocked"}}]
    assert unknown == [3, "c", {"idTagInfo": {"status": "Invalid"}}]


async def test_transaction_roundtrip_and_duplicates(charger: Charger, platform: Platform) -> None:
    start = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 1000, "timestamp": "2026-03-01T11:00:00Z"}
    first = await charger.call("s1", "StartTransaction", start)
    assert first[:2] == [3, "s1"]
    transaction_id = first[2]["transactionId"]
    assert first[2] == {"transactionId": transaction_id, "idTagInfo": {"status": "Accepted"}}
    # The same StartTransaction resent after a reconnect: same answer, stored once.
    again = await charger.call("s2", "StartTransaction", start)
    assert again == [3, "s2", first[2]]

    meter = {
        "connectorId": 1,
        "transactionId": transaction_id,
        "meterValue": [
            {
                "timestamp": "2026-03-01T11:30:00Z",
                "sampledValue": [
                    {"value": "3.5", "unit": "kWh", "measurand": "Energy.Active.Import.Register"},
                    {"value": "7000", "unit": "W", "measurand": "Power.Active.Import"},
                ],
            }
        ],
    }
    assert await charger.call("m1", "MeterValues", meter) == [3, "m1", {}]
    async with aiohttp.ClientSession() as http, http.get(f"{platform.http_url}/api/sessions/{transaction_id}") as r:
        assert (await r.json())["energy_wh"] == 2500.0  # live, before the write-behind flush
    await platform.central.flush_meters()
    live = await platform.store.get_transaction(transaction_id)
    assert live is not None
    assert live.active
    assert live.energy_wh == 2500.0

    stop = {
        "transactionId": transaction_id,
        "meterStop": 5000,
        "timestamp": "2026-03-01T12:00:00Z",
        "reason": "EVDisconnected",
    }
    assert await charger.call("t1", "StopTransaction", stop) == [3, "t1", {}]
    assert await charger.call("t2", "StopTransaction", stop) == [3, "t2", {}]  # resent stop
    records = await platform.store.list_transactions(charge_point_id="CP-A")
    assert len(records) == 1
    assert records[0].energy_wh == 4000.0
    assert records[0].stop_reason == "EVDisconnected"


async def test_stop_for_unknown_transaction_is_accepted_and_kept(charger: Charger, platform: Platform) -> None:
    stop = {"transactionId": -1, "meterStop": 10, "timestamp": "2026-03-01T10:00:00Z", "idTag": "TAG-OK"}
    answer = await charger.call("u1", "StopTransaction", stop)
    assert answer == [3, "u1", {"idTagInfo": {"status": "Accepted"}}]
    assert await platform.store.count_unmatched_stops() == 1


@pytest.mark.parametrize(
    ("frame", "expected_id", "code"),
    [
        ("this is not json", "-1", "FormationViolation"),
        ('{"a": 1}', "-1", "ProtocolError"),
        ('[2, "x1", "BootNotification"]', "x1", "ProtocolError"),
        ('[2, "x2", "BootNotification", {"chargePointVendor": "V"}]', "x2", "OccurenceConstraintViolation"),
        ('[2, "x7", "Heartbeat", {}, "extra"]', "x7", "ProtocolError"),
        ('[7, "x8", "Heartbeat", {}]', "x8", "PropertyConstraintViolation"),
        (
            '[2, "x9", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Asleep"}]',
            "x9",
            "PropertyConstraintViolation",
        ),
        ('[2, "x3", "Heartbeat", {"unexpected": true}]', "x3", "FormationViolation"),
        (
            '[2, "x4", "StatusNotification", {"connectorId": "one", "errorCode": "NoError", "status": "Available"}]',
            "x4",
            "TypeConstraintViolation",
        ),
        ('[2, "x5", "NoSuchAction", {}]', "x5", "NotImplemented"),
        ('[2, "x6", "DiagnosticsStatusNotificationX", {}]', "x6", "NotImplemented"),
    ],
)
async def test_malformed_frames_get_a_call_error_and_the_connection_lives(
    charger: Charger, frame: str, expected_id: str, code: str
) -> None:
    answer = await charger.send_raw(frame)
    assert answer[0] == 4
    assert answer[1] == expected_id
    assert answer[2] == code
    assert await charger.call("alive", "Heartbeat", {}) == [3, "alive", {"currentTime": NOW_ISO}]


async def test_known_but_unhandled_action_is_not_supported(charger: Charger) -> None:
    # Reset is an OCPP 1.6 action, but one a central system sends, not receives.
    answer = await charger.call("d1", "Reset", {"type": "Hard"})
    assert answer[:3] == [4, "d1", "NotSupported"]


async def test_csms_call_over_rest(platform: Platform, charger: Charger) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{platform.http_url}/api/chargepoints/CP-A/ocpp/Reset"
        pending = asyncio.ensure_future(http.post(url, json={"type": "Soft"}))
        frame = json.loads(await charger.ws.receive_str(timeout=5))
        assert frame[0] == 2
        assert frame[2:] == ["Reset", {"type": "Soft"}]
        await charger.ws.send_str(json.dumps([3, frame[1], {"status": "Accepted"}]))
        response = await pending
        assert response.status == 200
        assert await response.json() == {"status": "Accepted"}
        response.release()

        invalid = await http.post(url, json={"type": "Sideways"})
        assert invalid.status == 422
        assert (await invalid.json())["error"]["code"]
        missing = await http.post(f"{platform.http_url}/api/chargepoints/NOPE/ocpp/Reset", json={"type": "Soft"})
        assert missing.status == 404
        offline = await http.post(f"{platform.http_url}/api/chargepoints/CP-B/ocpp/Reset", json={"type": "Soft"})
        assert offline.status == 409


async def test_charger_offering_no_subprotocol_is_served_as_16(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{platform.ocpp_url}/CP-B") as ws:
        await ws.send_str(json.dumps([2, "h", "Heartbeat", {}]))
        assert json.loads(await ws.receive_str(timeout=5)) == [3, "h", {"currentTime": NOW_ISO}]
        assert platform.central.state("CP-B").ocpp_version == "1.6"


async def test_charger_offering_only_unknown_protocols_is_refused(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(f"{platform.ocpp_url}/CP-B", protocols=("ocpp1.2",))
        assert info.value.status == 400
