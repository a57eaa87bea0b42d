"""OCPP 2.1 dynamic charging profiles and priority charging as exact frames over real loopback WebSockets:
the scheduler's TxProfile installed as a Dynamic profile and followed by UpdateDynamicSchedule (a refused
update sent again as SetChargingProfile), PullDynamicScheduleUpdate answered; NotifyPriorityCharging and
UsePriorityCharging (from REST) putting the session in the scheduler's mode priority and out of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chargepoints.validation import validator
from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.test_registration import BOOT_201, Raw, rest
from tests.protocol.test_reservations import tx_event

TX = "tx-TAG-OK-0"
METER = [{"timestamp": "2026-03-01T12:00:00Z", "sampledValue": [{"value": 1000.0}]}]


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(tmp_path, ocpp={"dynamic_profiles": True, "dynamic_update_interval_s": 120})
    async with running_platform(settings) as running:
        yield running


@pytest.fixture
async def static_platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(make_settings(tmp_path)) as running:  # dynamic_profiles off: the default
        yield running


async def started(http: aiohttp.ClientSession, platform: Platform, charger: str = "CP-A") -> Raw:
    """A 2.1 station booted, with a transaction started on EVSE 1."""
    raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/{charger}", protocols=("ocpp2.1",)))
    assert (await raw.call("b", "BootNotification", BOOT_201))[2]["status"] == "Accepted"
    answer = await raw.call("t1", "TransactionEvent", tx_event("Started", 0, "TAG-OK", meterValue=METER))
    assert answer[:2] == [3, "t1"]
    return raw


async def next_call(raw: Raw, *actions: str) -> list[Any]:
    """The next of the central system's calls among `actions` (others answered as they come)."""
    while True:
        frame = await raw.next_call()
        if frame[2] in actions:
            return frame


async def set_mode(http: aiohttp.ClientSession, platform: Platform, mode: str) -> None:
    url = f"{platform.http_url}/api/sessions/{TX}/mode?chargepoint=CP-A"
    async with http.put(url, json={"mode": mode}) as response:
        assert response.status == 200, await response.text()


async def session(http: aiohttp.ClientSession, platform: Platform) -> dict[str, Any]:
    async with http.get(f"{platform.http_url}/api/sessions/{TX}?chargepoint=CP-A") as response:
        assert response.status == 200
        return dict(await response.json())


async def events(http: aiohttp.ClientSession, platform: Platform, kind: str) -> list[dict[str, Any]]:
    async with http.get(f"{platform.http_url}/api/chargepoints/CP-A/events") as response:
        return [e["payload"] for e in await response.json() if e["kind"] == kind]


def dynamic_profile(limit: float) -> dict[str, Any]:
    """The Dynamic TxProfile expected for EVSE 1, but for its dynUpdateTime."""
    return {
        "evseId": 1,
        "chargingProfile": {
            "id": 1001,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Dynamic",
            "chargingSchedule": [
                {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}
            ],
            "transactionId": TX,
            "dynUpdateInterval": 120,
        },
    }


def without_update_time(payload: dict[str, Any]) -> dict[str, Any]:
    profile = dict(payload["chargingProfile"])
    updated = datetime.fromisoformat(profile.pop("dynUpdateTime").replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - updated) < timedelta(seconds=30)  # when CoopGrid set the limit
    return {**payload, "chargingProfile": profile}


async def test_the_tx_profile_is_dynamic_then_followed_by_updates_and_pulled(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await started(http, platform)
        first = await next_call(raw, "SetChargingProfile", "UpdateDynamicSchedule")
        assert first[2] == "SetChargingProfile"
        validator("2.1", "SetChargingProfile")(first[3])
        assert without_update_time(first[3]) == dynamic_profile(0.0)  # green mode, no sun: paused
        # the station pulls: the limit in force; a profile CoopGrid did not install is Rejected
        pulled = await raw.call("p1", "PullDynamicScheduleUpdate", {"chargingProfileId": 1001})
        assert pulled == [3, "p1", {"status": "Accepted", "scheduleUpdate": {"limit": 0.0}}]
        unknown = await raw.call("p2", "PullDynamicScheduleUpdate", {"chargingProfileId": 1})
        assert unknown[:2] == [3, "p2"]
        assert unknown[2]["status"] == "Rejected"
        assert unknown[2]["statusInfo"]["reasonCode"] == "UnknownProfile"
        bad = await raw.call("p3", "PullDynamicScheduleUpdate", {"chargingProfileId": "1001"})
        assert bad[:3] == [4, "p3", "TypeConstraintViolation"]
        # a new limit: UpdateDynamicSchedule, not another SetChargingProfile
        raw.calls.clear()
        await set_mode(http, platform, "fast")
        update = await next_call(raw, "SetChargingProfile", "UpdateDynamicSchedule")
        assert update[2:] == ["UpdateDynamicSchedule", {"chargingProfileId": 1001, "scheduleUpdate": {"limit": 16.0}}]
        pulled = await raw.call("p4", "PullDynamicScheduleUpdate", {"chargingProfileId": 1001})
        assert pulled[2] == {"status": "Accepted", "scheduleUpdate": {"limit": 16.0}}
        # a refused update: the Dynamic profile sent again with the new limit, the refusal kept as an event
        raw.answers["UpdateDynamicSchedule"] = {"status": "Rejected", "statusInfo": {"reasonCode": "NoProfile"}}
        await set_mode(http, platform, "green")
        refused = await next_call(raw, "SetChargingProfile", "UpdateDynamicSchedule")
        assert refused[2:] == ["UpdateDynamicSchedule", {"chargingProfileId": 1001, "scheduleUpdate": {"limit": 0.0}}]
        again = await next_call(raw, "SetChargingProfile", "UpdateDynamicSchedule")
        assert again[2] == "SetChargingProfile"
        assert without_update_time(again[3]) == dynamic_profile(0.0)
        await asyncio.sleep(0.2)
        assert await events(http, platform, "UpdateDynamicSchedule") == [
            {
                "charging_profile_id": 1001,
                "limit": 0.0,
                "status": "Rejected",
                "statusInfo": {"reasonCode": "NoProfile"},
                "then": "SetChargingProfile",
            }
        ]
        del raw.answers["UpdateDynamicSchedule"]
        await set_mode(http, platform, "fast")
        update = await next_call(raw, "SetChargingProfile", "UpdateDynamicSchedule")
        assert update[2:] == ["UpdateDynamicSchedule", {"chargingProfileId": 1001, "scheduleUpdate": {"limit": 16.0}}]
        # the transaction ends: its profile is gone, a pull for it Rejected
        ended = tx_event("Ended", 1, None, meterValue=METER)
        ended["transactionInfo"] = {"transactionId": TX, "stoppedReason": "EVDisconnected"}
        assert (await raw.call("e", "TransactionEvent", ended))[:2] == [3, "e"]
        gone = await raw.call("p5", "PullDynamicScheduleUpdate", {"chargingProfileId": 1001})
        assert gone[2]["status"] == "Rejected"
        await raw.ws.close()


async def test_a_station_refusing_dynamic_profiles_gets_the_static_tx_profile(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp2.1",)))
        assert (await raw.call("b", "BootNotification", BOOT_201))[2]["status"] == "Accepted"
        raw.answers["SetChargingProfile"] = {"status": "Rejected"}
        await raw.call("t1", "TransactionEvent", tx_event("Started", 0, "TAG-OK", meterValue=METER))
        dynamic = await next_call(raw, "SetChargingProfile")
        assert dynamic[3]["chargingProfile"]["chargingProfileKind"] == "Dynamic"
        static = await next_call(raw, "SetChargingProfile")
        assert static[3] == {
            "evseId": 1,
            "chargingProfile": {
                "id": 1001,  # the Dynamic profile's id: whatever is there is replaced
                "stackLevel": 1,
                "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": [
                    {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0.0}]}
                ],
                "transactionId": TX,
            },
        }
        del raw.answers["SetChargingProfile"]
        await set_mode(http, platform, "fast")
        later = await next_call(raw, "SetChargingProfile", "UpdateDynamicSchedule")
        assert later[2] == "SetChargingProfile"
        assert later[3]["chargingProfile"]["chargingProfileKind"] == "Relative"
        assert "UpdateDynamicSchedule" not in [c[2] for c in raw.calls]
        assert len(await events(http, platform, "DynamicProfileRefused")) == 1
        await raw.ws.close()


async def test_without_the_option_2_1_stations_get_static_profiles_and_pulls_are_rejected(
    static_platform: Platform,
) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await started(http, static_platform)
        first = await next_call(raw, "SetChargingProfile", "UpdateDynamicSchedule")
        assert first[2] == "SetChargingProfile"
        assert (first[3]["chargingProfile"]["id"], first[3]["chargingProfile"]["chargingProfileKind"]) == (
            1,
            "Relative",
        )
        pulled = await raw.call("p", "PullDynamicScheduleUpdate", {"chargingProfileId": 1})
        assert pulled[2]["status"] == "Rejected"
        await set_mode(http, static_platform, "fast")
        second = await next_call(raw, "SetChargingProfile", "UpdateDynamicSchedule")
        assert second[2] == "SetChargingProfile"
        assert second[3]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 16.0
        await raw.ws.close()


async def test_notify_priority_charging_puts_the_session_in_mode_priority_and_back(
    static_platform: Platform,
) -> None:
    platform = static_platform
    async with aiohttp.ClientSession() as http:
        raw = await started(http, platform)
        first = await next_call(raw, "SetChargingProfile")
        assert first[3]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 0.0
        on = await raw.call("n1", "NotifyPriorityCharging", {"transactionId": TX, "activated": True})
        assert on == [3, "n1", {}]
        raised = await next_call(raw, "SetChargingProfile")  # its maximum, though there is no sun
        assert raised[3]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 16.0
        view = await session(http, platform)
        assert (view["mode"], view["priority_charging"]) == ("priority", True)
        (stored,) = await platform.store.find_transactions_by_api_id(TX, "CP-A")
        assert stored.priority_charging
        assert stored.mode == "green"  # what it returns to
        off = await raw.call("n2", "NotifyPriorityCharging", {"transactionId": TX, "activated": False})
        assert off == [3, "n2", {}]
        lowered = await next_call(raw, "SetChargingProfile")
        assert lowered[3]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 0.0
        view = await session(http, platform)
        assert (view["mode"], view["priority_charging"]) == ("green", False)
        # a transaction that is not this station's running one: answered, kept as an event, nothing marked
        other = await raw.call("n3", "NotifyPriorityCharging", {"transactionId": "tx-nope", "activated": True})
        assert other == [3, "n3", {}]
        missing = await raw.call("n4", "NotifyPriorityCharging", {"transactionId": TX})
        assert missing[:3] == [4, "n4", "OccurrenceConstraintViolation"]
        await asyncio.sleep(0.2)
        assert await events(http, platform, "NotifyPriorityCharging") == [
            {"transaction_id": "tx-nope", "activated": True, "session_marked": False},
            {"transaction_id": TX, "activated": False, "session_marked": True},
            {"transaction_id": TX, "activated": True, "session_marked": True},
        ]
        await raw.ws.close()


async def test_use_priority_charging_from_rest(static_platform: Platform) -> None:
    platform = static_platform
    url = f"{platform.http_url}/api/sessions/{TX}/priority-charging?chargepoint=CP-A"
    async with aiohttp.ClientSession() as http:
        raw = await started(http, platform)
        await next_call(raw, "SetChargingProfile")
        raw.calls.clear()
        status, answer = await rest(http, raw, "post", url, {"activate": True})
        assert status == 200, answer
        assert (answer["status"], answer["priority_charging"]) == ("Accepted", True)
        assert (answer["session"]["mode"], answer["session"]["priority_charging"]) == ("priority", True)
        assert [c[2:] for c in raw.calls if c[2] == "UsePriorityCharging"] == [
            ["UsePriorityCharging", {"transactionId": TX, "activate": True}]
        ]
        raised = await next_call(raw, "SetChargingProfile")
        assert raised[3]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 16.0
        # the operator sets another mode meanwhile: priority holds, and that mode is what it returns to
        await set_mode(http, platform, "green_min")
        assert (await session(http, platform))["mode"] == "priority"
        # the station's refusal is its answer, passed on: nothing changes
        raw.answers["UsePriorityCharging"] = {"status": "NoProfile"}
        status, answer = await rest(http, raw, "post", url, {"activate": False})
        assert (status, answer["status"], answer["priority_charging"]) == (200, "NoProfile", True)
        raw.answers["UsePriorityCharging"] = {"status": "Accepted"}
        status, answer = await rest(http, raw, "post", url, {"activate": False})
        assert (status, answer["status"], answer["priority_charging"]) == (200, "Accepted", False)
        assert answer["session"]["mode"] == "green_min"
        lowered = await next_call(raw, "SetChargingProfile")
        assert lowered[3]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 6.0
        await asyncio.sleep(0.2)
        assert [(e["activate"], e["status"]) for e in await events(http, platform, "UsePriorityCharging")] == [
            (False, "Accepted"),
            (False, "NoProfile"),
            (True, "Accepted"),
        ]
        # refusals: a bad body, no such running session, an answer that breaks the 2.1 schema
        raw.calls.clear()
        status, answer = await rest(http, raw, "post", url, {"activate": "maybe"})
        assert (status, answer["error"]["code"]) == (422, "InvalidBody")
        status, answer = await rest(http, raw, "post", url, {"activate": True, "more": 1})
        assert status == 422
        async with http.post(
            f"{platform.http_url}/api/sessions/tx-none/priority-charging", json={"activate": True}
        ) as r:
            assert r.status == 404
        assert [c for c in raw.calls if c[2] == "UsePriorityCharging"] == []
        raw.answers["UsePriorityCharging"] = {"status": "Maybe"}
        status, answer = await rest(http, raw, "post", url, {"activate": True})
        assert status == 502, answer
        assert (await session(http, platform))["priority_charging"] is False
        await raw.ws.close()


async def test_priority_charging_needs_a_21_station(static_platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = Raw(await http.ws_connect(f"{static_platform.ocpp_url}/CP-B", protocols=("ocpp2.0.1",)))
        assert (await raw.call("b", "BootNotification", BOOT_201))[2]["status"] == "Accepted"
        await raw.call("t1", "TransactionEvent", tx_event("Started", 0, "TAG-OK", meterValue=METER))
        url = f"{static_platform.http_url}/api/sessions/{TX}/priority-charging?chargepoint=CP-B"
        status, answer = await rest(http, raw, "post", url, {"activate": True})
        assert (status, answer["error"]["code"]) == (409, "NotOcpp21")
        # 2.0.1 has no NotifyPriorityCharging
        unknown = await raw.call("n", "NotifyPriorityCharging", {"transactionId": TX, "activated": True})
        assert unknown[:3] == [4, "n", "NotImplemented"]
        await raw.ws.close()


async def test_priority_charging_outlives_a_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        raw = await started(http, platform)
        await next_call(raw, "SetChargingProfile")
        assert (await raw.call("n", "NotifyPriorityCharging", {"transactionId": TX, "activated": True}))[2] == {}
        await next_call(raw, "SetChargingProfile")
        await raw.ws.close()
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:  # the same database
        raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp2.1",)))
        assert (await raw.call("b", "BootNotification", BOOT_201))[2]["status"] == "Accepted"
        adopted = await next_call(raw, "SetChargingProfile")  # the session re-adopted in mode priority
        assert adopted[3]["chargingProfile"]["transactionId"] == TX
        assert adopted[3]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 16.0
        assert (await session(http, platform))["mode"] == "priority"
        await raw.ws.close()
