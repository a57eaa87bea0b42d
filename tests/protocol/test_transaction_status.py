"""GetTransactionStatus (OCPP 2.0.1 E14) in exact frames: the station's answer, and a transaction that ended
with its messages still queued kept open until they arrive, or finalized when none will."""

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
from tests.protocol.test_registration import BOOT_16, BOOT_201, Raw, rest


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(make_settings(tmp_path)) as running:
        yield running


def event(event_type: str, transaction: str, seq_no: int, register_wh: float, **extra: Any) -> dict[str, Any]:
    trigger = {"Started": "Authorized", "Updated": "MeterValuePeriodic", "Ended": "EVDeparted"}[event_type]
    info: dict[str, Any] = {"transactionId": transaction}
    if event_type == "Ended":
        info["stoppedReason"] = "EVDisconnected"
    return {
        "eventType": event_type,
        "timestamp": f"2026-03-01T12:{seq_no:02d}:00Z",
        "triggerReason": trigger,
        "seqNo": seq_no,
        "transactionInfo": info,
        "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": "TAG-OK", "type": "ISO14443"},
        "meterValue": [
            {
                "timestamp": f"2026-03-01T12:{seq_no:02d}:00Z",
                "sampledValue": [{"value": register_wh, "measurand": "Energy.Active.Import.Register"}],
            }
        ],
        **extra,
    }


async def started(http: aiohttp.ClientSession, platform: Platform, transaction: str) -> Raw:
    raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp2.0.1",)))
    assert (await raw.call("b", "BootNotification", BOOT_201))[2]["status"] == "Accepted"
    answer = await raw.call("s", "TransactionEvent", event("Started", transaction, 0, 1000.0))
    assert answer[2] == {"idTokenInfo": {"status": "Accepted"}}
    answer = await raw.call("u", "TransactionEvent", event("Updated", transaction, 1, 1500.0))
    assert answer == [3, "u", {"idTokenInfo": {"status": "Accepted"}}]
    return raw


async def ask(
    http: aiohttp.ClientSession, platform: Platform, raw: Raw, transaction: str, answer: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    raw.calls.clear()
    raw.answers["GetTransactionStatus"] = answer
    url = f"{platform.http_url}/api/sessions/{transaction}/transaction-status"
    status, body = await rest(http, raw, "post", url, {})
    asked = [c for c in raw.calls if c[2] == "GetTransactionStatus"]
    assert len(asked) == 1
    assert asked[0][0] == 2
    assert asked[0][3] == {"transactionId": transaction}  # the exact request
    return status, body


async def session(http: aiohttp.ClientSession, platform: Platform, transaction: str) -> dict[str, Any]:
    async with http.get(f"{platform.http_url}/api/sessions/{transaction}") as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def test_ended_with_messages_queued_stays_open_until_they_arrive(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await started(http, platform, "T-Q")
        status, body = await ask(http, platform, raw, "T-Q", {"ongoingIndicator": False, "messagesInQueue": True})
        assert status == 200, body
        assert body["ongoingIndicator"] is False
        assert body["messagesInQueue"] is True
        assert body["state"] == "awaiting_messages"
        assert body["session"]["active"] is True
        assert body["session"]["awaiting_messages"] is True
        assert (await session(http, platform, "T-Q"))["awaiting_messages"] is True
        # the queued messages arrive, offline-flagged, in order: the Ended one finalizes it as the station says
        queued = event("Updated", "T-Q", 2, 1800.0, offline=True)
        assert await raw.call("q1", "TransactionEvent", queued) == [3, "q1", {"idTokenInfo": {"status": "Accepted"}}]
        ended = event("Ended", "T-Q", 3, 2000.0, offline=True)
        assert await raw.call("q2", "TransactionEvent", ended) == [3, "q2", {"idTokenInfo": {"status": "Accepted"}}]
        after = await session(http, platform, "T-Q")
        assert after["active"] is False
        assert after["awaiting_messages"] is False
        assert after["stop_reason"] == "EVDisconnected"
        assert after["meter_stop_wh"] == 2000.0
        assert after["energy_wh"] == 1000.0
        await raw.ws.close()


async def test_ended_with_nothing_queued_is_finalized_at_its_last_register(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await started(http, platform, "T-LOST")
        status, body = await ask(http, platform, raw, "T-LOST", {"ongoingIndicator": False, "messagesInQueue": False})
        assert status == 200, body
        assert body["state"] == "ended"
        assert body["session"]["active"] is False
        assert body["session"]["stop_reason"] == "Other"
        assert body["session"]["meter_stop_wh"] == 1500.0
        async with http.get(f"{platform.http_url}/api/chargepoints/CP-A/events") as response:
            kinds = [e["kind"] for e in await response.json()]
        assert "TransactionEndUnreported" in kinds
        # an Ended event that turns up after all changes nothing (the session stays as finalized)
        late = event("Ended", "T-LOST", 2, 1600.0, offline=True)
        assert (await raw.call("late", "TransactionEvent", late))[0] == 3
        assert (await session(http, platform, "T-LOST"))["meter_stop_wh"] == 1500.0
        await raw.ws.close()


async def test_ongoing_changes_nothing_and_a_station_wide_answer_finalizes_what_awaits(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await started(http, platform, "T-ON")
        status, body = await ask(http, platform, raw, "T-ON", {"ongoingIndicator": True, "messagesInQueue": False})
        assert (status, body["state"], body["session"]["active"]) == (200, "ongoing", True)
        await ask(http, platform, raw, "T-ON", {"ongoingIndicator": False, "messagesInQueue": True})
        assert (await session(http, platform, "T-ON"))["awaiting_messages"] is True
        # asked of no transaction (E14.FR.04/05): nothing queued at all, so what was awaited will not come
        raw.answers["GetTransactionStatus"] = {"messagesInQueue": False}
        url = f"{platform.http_url}/api/chargepoints/CP-A/ocpp/GetTransactionStatus"
        status, answer = await rest(http, raw, "post", url, {})
        assert (status, answer) == (200, {"messagesInQueue": False})
        assert [c[3] for c in raw.calls if c[2] == "GetTransactionStatus"][-1] == {}
        after = await session(http, platform, "T-ON")
        assert (after["active"], after["awaiting_messages"], after["stop_reason"]) == (False, False, "Other")
        await raw.ws.close()


async def test_only_a_201_session_is_asked(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/CP-B", protocols=("ocpp1.6",)))
        await raw.call("b", "BootNotification", BOOT_16)
        start = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": "2026-03-01T12:00:00Z"}
        transaction = (await raw.call("s", "StartTransaction", start))[2]["transactionId"]
        status, body = await rest(
            http, raw, "post", f"{platform.http_url}/api/sessions/{transaction}/transaction-status", {}
        )
        assert status == 404, body
        assert not [c for c in raw.calls if c[2] == "GetTransactionStatus"]
        await raw.ws.close()
        await asyncio.sleep(0)


async def test_a_station_back_is_asked_only_of_what_it_did_not_report(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ocpp={"transaction_status_after_s": 0.5})
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        raw = await started(http, platform, "T-GONE")
        answer = await raw.call("s2", "TransactionEvent", {**event("Started", "T-RUN", 0, 0.0), "evse": {"id": 2}})
        assert answer[0] == 3, answer
        await raw.ws.close()
        # back after an outage (no boot: it stays Accepted); it reports T-RUN at once, T-GONE never
        raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp2.0.1",)))
        raw.answers["GetTransactionStatus"] = {"ongoingIndicator": False, "messagesInQueue": False}
        updated = {**event("Updated", "T-RUN", 1, 100.0), "evse": {"id": 2}}
        assert (await raw.call("r", "TransactionEvent", updated))[0] == 3
        asked = await raw.next_call()
        while asked[2] == "SetChargingProfile":  # the scheduler's limits meanwhile
            asked = await raw.next_call()
        assert asked[2:] == ["GetTransactionStatus", {"transactionId": "T-GONE"}]
        for _ in range(100):
            if not (await session(http, platform, "T-GONE"))["active"]:
                break
            await asyncio.sleep(0.05)
        gone = await session(http, platform, "T-GONE")
        assert (gone["active"], gone["stop_reason"], gone["meter_stop_wh"]) == (False, "Other", 1500.0)
        assert (await session(http, platform, "T-RUN"))["active"] is True  # it reported: not asked
        later: list[list[Any]] = []  # one question, no more
        try:
            while True:
                later.append(json.loads(await raw.ws.receive_str(timeout=1.0)))
        except TimeoutError:
            pass
        assert [frame[2] for frame in later if frame[2] != "SetChargingProfile"] == []
        await raw.ws.close()


async def test_what_awaits_its_messages_is_known_after_a_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ocpp={"transaction_status_after_s": 0})
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        raw = await started(http, platform, "T-KEPT")
        await ask(http, platform, raw, "T-KEPT", {"ongoingIndicator": False, "messagesInQueue": True})
        await raw.ws.close()
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        kept = await session(http, platform, "T-KEPT")
        assert (kept["active"], kept["awaiting_messages"]) == (True, True)
        # asked of no transaction: nothing queued at all, so what awaited will not come
        raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp2.0.1",)))
        raw.answers["GetTransactionStatus"] = {"messagesInQueue": False}
        url = f"{platform.http_url}/api/chargepoints/CP-A/ocpp/GetTransactionStatus"
        assert (await rest(http, raw, "post", url, {}))[0] == 200
        after = await session(http, platform, "T-KEPT")
        assert (after["active"], after["awaiting_messages"], after["stop_reason"]) == (False, False, "Other")
        await raw.ws.close()
