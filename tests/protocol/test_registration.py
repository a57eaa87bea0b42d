"""Registration over real sockets: Pending and Rejected answered with the retry interval, what a charger that
is not Accepted may send (SecurityError otherwise), what is sent to it, and the TriggerMessage that calls it
back in once an operator accepts it (OCPP 1.6 §4.2; 2.0.1 B02, B03, TC_B_30, TC_B_31)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform

BOOT_16 = {"chargePointVendor": "V", "chargePointModel": "M"}
BOOT_201 = {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}
STATUS_16 = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
STATUS_201 = {"timestamp": "2026-03-01T12:00:00Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
NOTIFY_EVENT = {
    "generatedAt": "2026-03-01T12:00:00Z",
    "seqNo": 0,
    "eventData": [
        {
            "eventId": 1,
            "timestamp": "2026-03-01T12:00:00Z",
            "trigger": "Delta",
            "actualValue": "Available",
            "eventNotificationType": "HardWiredNotification",
            "component": {"name": "Connector"},
            "variable": {"name": "AvailabilityState"},
        }
    ],
}
RETRY_S = 17


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(
        tmp_path, ocpp={"unknown_chargers": "pending", "registration_retry_s": RETRY_S, "heartbeat_interval_s": 300}
    )
    async with running_platform(settings) as running:
        yield running


class Raw:
    """A charger speaking exact frames; calls of the central system are kept and answered as `answers` says."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.calls: list[list[Any]] = []
        self.answers: dict[str, dict[str, Any]] = {}

    async def call(self, unique_id: str, action: str, payload: dict[str, Any]) -> list[Any]:
        await self.ws.send_str(json.dumps([2, unique_id, action, payload]))
        while True:
            frame = json.loads(await self.ws.receive_str(timeout=5))
            if frame[0] != 2:
                return list(frame)
            await self.answer(frame)

    async def answer(self, frame: list[Any]) -> None:
        self.calls.append(frame)
        reply = self.answers.get(frame[2], {"status": "Accepted"})
        if frame[2] == "GetVariables":
            asked = frame[3]["getVariableData"]
            reply = {
                "getVariableResult": [
                    {"attributeStatus": "UnknownVariable", "component": r["component"], "variable": r["variable"]}
                    for r in asked
                ]
            }
        elif frame[2] == "GetConfiguration":
            reply = {"configurationKey": []}
        await self.ws.send_str(json.dumps([3, frame[1], reply]))

    async def next_call(self) -> list[Any]:
        frame = json.loads(await self.ws.receive_str(timeout=5))
        assert frame[0] == 2, frame
        await self.answer(frame)
        return list(frame)


async def rest(
    http: aiohttp.ClientSession, raw: Raw, method: str, url: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """A REST request while the charger answers what the central system calls meanwhile."""
    task = asyncio.ensure_future(http.request(method, url, json=body))
    while not task.done():
        try:
            frame = json.loads(await raw.ws.receive_str(timeout=0.05))
        except TimeoutError:
            continue
        assert frame[0] == 2, frame
        await raw.answer(frame)
    response = await task
    return response.status, await response.json()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def connect(http: aiohttp.ClientSession, platform: Platform, charger: str, protocol: str) -> Raw:
    ws = await http.ws_connect(f"{platform.ocpp_url}/{charger}", protocols=(protocol,))
    return Raw(ws)


async def test_16_pending_is_retried_after_its_own_interval_and_sends_only_what_it_is_asked(
    platform: Platform, http: aiohttp.ClientSession
) -> None:
    raw = await connect(http, platform, "CP-NEW16", "ocpp1.6")
    boot = await raw.call("b1", "BootNotification", BOOT_16)
    assert boot[2]["status"] == "Pending"
    assert boot[2]["interval"] == RETRY_S  # not the heartbeat interval
    for unique_id, action, payload in (("s1", "StatusNotification", STATUS_16), ("h1", "Heartbeat", {})):
        refused = await raw.call(unique_id, action, payload)
        assert refused[:3] == [4, unique_id, "SecurityError"], refused
    api = f"{platform.http_url}/api/chargepoints/CP-NEW16/ocpp"
    # §4.2: configuration may be read and changed while Pending, but no remote start or stop is sent
    status, answer = await rest(http, raw, "post", f"{api}/GetConfiguration", {})
    assert (status, answer) == (200, {"configurationKey": []})
    status, answer = await rest(http, raw, "post", f"{api}/RemoteStartTransaction", {"idTag": "TAG-OK"})
    assert (status, answer["error"]["code"]) == (409, "NotAccepted")
    assert [c[2] for c in raw.calls] == ["GetConfiguration"]
    # a message we triggered is served
    status, _ = await rest(http, raw, "post", f"{api}/TriggerMessage", {"requestedMessage": "StatusNotification"})
    assert status == 200
    assert (await raw.call("s2", "StatusNotification", STATUS_16))[:2] == [3, "s2"]
    assert (await raw.call("h2", "Heartbeat", {}))[2] == "SecurityError"  # not triggered
    await raw.ws.close()


async def test_201_pending_station_is_refused_then_called_back_in_once_accepted(
    platform: Platform, http: aiohttp.ClientSession
) -> None:
    raw = await connect(http, platform, "CP-NEW201", "ocpp2.0.1")
    boot = await raw.call("b1", "BootNotification", BOOT_201)
    assert (boot[2]["status"], boot[2]["interval"]) == ("Pending", RETRY_S)
    # TC_B_30: unsolicited messages of a Pending station get a SecurityError CallError
    assert (await raw.call("s1", "StatusNotification", STATUS_201))[:3] == [4, "s1", "SecurityError"]
    assert (await raw.call("e1", "NotifyEvent", NOTIFY_EVENT))[:3] == [4, "e1", "SecurityError"]
    report = {"requestId": 3, "generatedAt": "2026-03-01T12:00:00Z", "seqNo": 0}
    assert (await raw.call("r1", "NotifyReport", report))[2] == "SecurityError"
    # B02.FR.09: the report a GetBaseReport asked for is served
    api = f"{platform.http_url}/api/chargepoints/CP-NEW201"
    status, _ = await rest(
        http, raw, "post", f"{api}/ocpp/GetBaseReport", {"requestId": 3, "reportBase": "SummaryInventory"}
    )
    assert status == 200
    assert (await raw.call("r2", "NotifyReport", report))[:2] == [3, "r2"]
    # the operator accepts it: the central system triggers a BootNotification at once (TC_B_31)
    status, view = await rest(http, raw, "patch", api, {"registration": "Accepted"})
    assert (status, view["registration"]) == (200, "Accepted")
    for _ in range(50):  # sent in the background: answered by rest() or still to come
        if raw.calls[1:]:
            break
        await raw.next_call()
    assert [c[2:] for c in raw.calls[1:]] == [["TriggerMessage", {"requestedMessage": "BootNotification"}]]
    boot = await raw.call("b2", "BootNotification", {**BOOT_201, "reason": "Triggered"})
    assert (boot[2]["status"], boot[2]["interval"]) == ("Accepted", 300)
    assert (await raw.call("s2", "StatusNotification", STATUS_201))[:2] == [3, "s2"]
    await raw.ws.close()


async def test_rejected_station_sends_nothing_and_is_sent_nothing_but_a_boot_trigger(
    platform: Platform, http: aiohttp.ClientSession
) -> None:
    api = f"{platform.http_url}/api/chargepoints/CP-A"
    async with http.patch(api, json={"registration": "Rejected"}) as response:
        assert response.status == 200
    raw = await connect(http, platform, "CP-A", "ocpp2.0.1")
    boot = await raw.call("b1", "BootNotification", BOOT_201)
    assert (boot[2]["status"], boot[2]["interval"]) == ("Rejected", RETRY_S)
    authorize = {"idToken": {"idToken": "TAG-OK", "type": "ISO14443"}}
    assert (await raw.call("a1", "Authorize", authorize))[:3] == [4, "a1", "SecurityError"]
    status, answer = await rest(
        http, raw, "post", f"{api}/ocpp/GetBaseReport", {"requestId": 4, "reportBase": "FullInventory"}
    )
    assert (status, answer["error"]["code"]) == (409, "NotAccepted")
    status, answer = await rest(http, raw, "post", f"{api}/limit", {"connector_id": 1, "limit_a": 10})
    assert (status, answer["error"]["code"]) == (409, "NotAccepted")
    assert raw.calls == []
    # a Rejected station may be asked to boot again before its interval is over
    status, _ = await rest(http, raw, "post", f"{api}/ocpp/TriggerMessage", {"requestedMessage": "BootNotification"})
    assert status == 200
    assert [c[2:] for c in raw.calls] == [["TriggerMessage", {"requestedMessage": "BootNotification"}]]
    # even a message we triggered is not served while Rejected (B03.FR.07)
    status, _ = await rest(http, raw, "post", f"{api}/ocpp/TriggerMessage", {"requestedMessage": "StatusNotification"})
    assert status == 409
    assert (await raw.call("s1", "StatusNotification", STATUS_201))[2] == "SecurityError"
    await raw.ws.close()


async def test_a_charger_with_no_record_is_held_to_the_policy_before_it_boots(
    platform: Platform, http: aiohttp.ClientSession
) -> None:
    raw = await connect(http, platform, "CP-NOBOOT", "ocpp1.6")
    assert (await raw.call("s1", "StatusNotification", STATUS_16))[2] == "SecurityError"
    await raw.ws.close()
    known = await connect(http, platform, "CP-B", "ocpp1.6")  # configured, so Accepted: served without a boot
    assert (await known.call("s1", "StatusNotification", STATUS_16))[:2] == [3, "s1"]
    await known.ws.close()
