"""OCPP 2.1 tariffs as exact frames over real loopback WebSockets: SetDefaultTariff after the boot and from
REST, ChangeTransactionTariff from REST, and the station's own cost (TransactionEvent costDetails) stored
with the session and shown in REST; bad input gets the CallError 2.1 names, and changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.test_registration import BOOT_201, Raw, rest
from tests.protocol.test_reservations import tx_event

TARIFF = {
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "FLAT", "price": 0.50, "vat": 21}]},
        {
            "price_components": [{"type": "ENERGY", "price": 0.20, "vat": 21}],
            "restrictions": {"start_time": "22:00", "end_time": "06:00"},
        },
        {"price_components": [{"type": "ENERGY", "price": 0.30, "vat": 21, "green_price": 0.15}]},
        {"price_components": [{"type": "PARKING_TIME", "price": 6.0}], "restrictions": {"min_duration": 3600}},
    ],
}
TARIFF_21 = {
    "tariffId": "site-a-guest",
    "currency": "EUR",
    "energy": {
        "prices": [
            {"priceKwh": 0.2, "conditions": {"startTimeOfDay": "22:00", "endTimeOfDay": "06:00"}},
            {"priceKwh": 0.3},
        ],
        "taxRates": [{"type": "VAT", "tax": 21}],
    },
    "idleTime": {"prices": [{"priceMinute": 0.1, "conditions": {"minTime": 3600}}]},
    "fixedFee": {"prices": [{"priceFixed": 0.5}], "taxRates": [{"type": "VAT", "tax": 21}]},
}
LATE = {"currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": 0.40}]}]}
LATE_21 = {"tariffId": "late", "currency": "EUR", "energy": {"prices": [{"priceKwh": 0.4}]}}
COST_DETAILS: dict[str, Any] = {
    "chargingPeriods": [
        {
            "startPeriod": "2026-03-01T12:00:00Z",
            "tariffId": "site-a-guest",
            "dimensions": [{"type": "Energy", "volume": 2500}, {"type": "ChargingTime", "volume": 600}],
        }
    ],
    "totalCost": {
        "currency": "EUR",
        "typeOfCost": "NormalCost",
        "fixed": {"exclTax": 0.5, "inclTax": 0.61},
        "energy": {"exclTax": 0.75, "inclTax": 0.91},
        "total": {"exclTax": 1.25, "inclTax": 1.52},
    },
    "totalUsage": {"energy": 2500, "chargingTime": 600, "idleTime": 0},
}


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(tmp_path, id_tags=[{"id": "TAG-OK"}])
    async with running_platform(settings) as running:
        async with aiohttp.ClientSession() as http:
            for tariff_id, body in (
                ("site-a-guest", {"site_id": "site-a", "audience": "guest", "tariff": TARIFF}),
                ("late", {"tariff": LATE}),
                ("stepped", {"tariff": {"currency": "EUR", "elements": [
                    {"price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 100}]}]}}),
            ):  # fmt: skip
                async with http.put(f"{running.http_url}/api/tariffs/{tariff_id}", json=body) as response:
                    assert response.status == 201, await response.text()
        yield running


async def booted(http: aiohttp.ClientSession, platform: Platform, charger: str = "CP-A") -> Raw:
    """A 2.1 station booted, the calls after its boot answered (the default tariff among them)."""
    raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/{charger}", protocols=("ocpp2.1",)))
    assert (await raw.call("b", "BootNotification", BOOT_201))[2]["status"] == "Accepted"
    return raw


async def calls_until(raw: Raw, action: str) -> list[Any]:
    while True:
        frame = await raw.next_call()
        if frame[2] == action:
            return frame


def tariff_calls(raw: Raw) -> list[list[Any]]:
    """The central system's tariff calls (the scheduler's profiles go out meanwhile)."""
    return [c[2:] for c in raw.calls if "Tariff" in c[2]]


async def events(http: aiohttp.ClientSession, platform: Platform, charger: str) -> list[dict[str, Any]]:
    async with http.get(f"{platform.http_url}/api/chargepoints/{charger}/events") as response:
        return list(await response.json())


async def session(http: aiohttp.ClientSession, platform: Platform, session_id: str) -> dict[str, Any]:
    async with http.get(f"{platform.http_url}/api/sessions/{session_id}?chargepoint=CP-A") as response:
        assert response.status == 200
        return dict(await response.json())


async def test_a_booted_21_station_is_sent_the_default_tariff_that_applies_to_it(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await booted(http, platform)
        frame = await calls_until(raw, "SetDefaultTariff")
        assert frame[3] == {"evseId": 0, "tariff": TARIFF_21}
        await asyncio.sleep(0.2)
        kept = [e for e in await events(http, platform, "CP-A") if e["kind"] == "SetDefaultTariff"]
        assert [e["payload"] for e in kept] == [{"tariff_id": "site-a-guest", "evse_id": 0, "status": "Accepted"}]
        await raw.ws.close()


async def test_a_21_station_with_no_tariff_gets_none_and_201_stations_never(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{platform.http_url}/api/tariffs/late", json={"site_id": "site-a", "tariff": LATE}):
            pass
        async with http.delete(f"{platform.http_url}/api/tariffs/late"):
            pass
        async with http.delete(f"{platform.http_url}/api/tariffs/site-a-guest"):
            pass
        raw = await booted(http, platform)
        await asyncio.sleep(0.5)
        while True:
            try:
                await raw.next_call()
            except TimeoutError:
                break
        assert "SetDefaultTariff" not in [c[2] for c in raw.calls]
        await raw.ws.close()


async def test_default_tariff_from_rest_exact_frames_and_refusals(platform: Platform) -> None:
    url = f"{platform.http_url}/api/chargepoints/CP-A/default-tariff"
    async with aiohttp.ClientSession() as http:
        raw = await booted(http, platform)
        await calls_until(raw, "SetDefaultTariff")
        raw.calls.clear()
        status, answer = await rest(http, raw, "post", url, {"tariff_id": "late", "evse_id": 1})
        assert status == 200, answer
        assert answer == {"status": "Accepted", "tariff_id": "late", "evse_id": 1, "tariff": LATE_21}
        assert tariff_calls(raw) == [["SetDefaultTariff", {"evseId": 1, "tariff": LATE_21}]]
        # the station's refusal is its answer, passed on
        raw.answers["SetDefaultTariff"] = {"status": "ConditionNotSupported", "statusInfo": {"reasonCode": "Cond"}}
        status, answer = await rest(http, raw, "post", url, {})
        assert (status, answer["status"], answer["tariff"]) == (200, "ConditionNotSupported", TARIFF_21)
        # a tariff 2.1 cannot say, an unknown one, a bad body: nothing sent
        raw.calls.clear()
        status, answer = await rest(http, raw, "post", url, {"tariff_id": "stepped"})
        assert (status, answer["error"]["code"]) == (422, "NotExpressible")
        assert "step_size" in answer["error"]["message"]
        status, answer = await rest(http, raw, "post", url, {"tariff_id": "nope"})
        assert (status, answer["error"]["code"]) == (404, "NotFound")
        status, answer = await rest(http, raw, "post", url, {"evse_id": -1})
        assert (status, answer["error"]["code"]) == (422, "InvalidBody")
        assert tariff_calls(raw) == []
        # an answer that breaks the 2.1 schema is a 502
        raw.answers["SetDefaultTariff"] = {"status": "Maybe"}
        status, answer = await rest(http, raw, "post", url, {})
        assert status == 502, answer
        await raw.ws.close()
        # a 2.0.1 station has no tariffs to set
        ws = await http.ws_connect(f"{platform.ocpp_url}/CP-B", protocols=("ocpp2.0.1",))
        await Raw(ws).call("b", "BootNotification", BOOT_201)
        async with http.post(f"{platform.http_url}/api/chargepoints/CP-B/default-tariff", json={}) as response:
            assert (response.status, (await response.json())["error"]["code"]) == (409, "NotOcpp21")
        await ws.close()


async def test_cost_details_are_stored_with_the_session_and_shown(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await booted(http, platform)
        await calls_until(raw, "SetDefaultTariff")
        meter = [{"timestamp": "2026-03-01T12:00:00Z", "sampledValue": [{"value": 1000.0}]}]
        started = await raw.call("t1", "TransactionEvent", tx_event("Started", 0, "TAG-OK", meterValue=meter))
        assert started[:2] == [3, "t1"]
        transaction_id = "tx-TAG-OK-0"
        # costDetails that break the 2.1 schema: the CallError 2.1 names, nothing stored
        updated = tx_event("Updated", 1, None, meterValue=[{**meter[0], "sampledValue": [{"value": 2000.0}]}])
        updated["transactionInfo"] = {"transactionId": transaction_id}
        no_usage = {**updated, "costDetails": {"totalCost": COST_DETAILS["totalCost"]}}
        assert (await raw.call("u1", "TransactionEvent", no_usage))[:3] == [4, "u1", "OccurrenceConstraintViolation"]
        wrong_type = {**updated, "costDetails": {**COST_DETAILS, "failureToCalculate": "yes"}}
        assert (await raw.call("u2", "TransactionEvent", wrong_type))[:3] == [4, "u2", "TypeConstraintViolation"]
        bad_enum = {**COST_DETAILS, "totalCost": {**COST_DETAILS["totalCost"], "typeOfCost": "Cheap"}}
        answer = await raw.call("u3", "TransactionEvent", {**updated, "costDetails": bad_enum})
        assert answer[:3] == [4, "u3", "PropertyConstraintViolation"]
        assert (await session(http, platform, transaction_id))["station_cost"] is None
        # the Ended event's costDetails: stored, shown in the list and the detail
        ended = tx_event("Ended", 2, None, meterValue=[{**meter[0], "sampledValue": [{"value": 3500.0}]}])
        ended["transactionInfo"] = {"transactionId": transaction_id, "stoppedReason": "EVDisconnected"}
        ended["costDetails"] = COST_DETAILS
        assert (await raw.call("e", "TransactionEvent", ended))[:2] == [3, "e"]
        shown = (await session(http, platform, transaction_id))["station_cost"]
        assert {k: v for k, v in shown.items() if k != "reported_at"} == {
            "currency": "EUR",
            "incl_tax": 1.52,
            "excl_tax": 1.25,
            "energy_wh": 2500,
            "duration_s": 600,
            "idle_s": 0,
            "tariff_ids": ["site-a-guest"],
            "failure": None,
            "cost_details": COST_DETAILS,
        }
        async with http.get(f"{platform.http_url}/api/sessions?chargepoint=CP-A") as response:
            listed = await response.json()
        assert [s["station_cost"]["incl_tax"] for s in listed if s["id"] == transaction_id] == [1.52]
        # resent after a reconnect (same seqNo): the same answer, nothing changes
        assert (await raw.call("e2", "TransactionEvent", ended))[:2] == [3, "e2"]
        assert (await session(http, platform, transaction_id))["station_cost"]["incl_tax"] == 1.52
        await raw.ws.close()


async def test_change_transaction_tariff_from_rest(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await booted(http, platform)
        await calls_until(raw, "SetDefaultTariff")
        meter = [{"timestamp": "2026-03-01T12:00:00Z", "sampledValue": [{"value": 1000.0}]}]
        await raw.call("t1", "TransactionEvent", tx_event("Started", 0, "TAG-OK", meterValue=meter))
        transaction_id = "tx-TAG-OK-0"
        assert (await session(http, platform, transaction_id))["tariff_id"] == "site-a-guest"
        url = f"{platform.http_url}/api/sessions/{transaction_id}/tariff?chargepoint=CP-A"
        raw.calls.clear()
        # the station does not know the transaction: its answer passed on, nothing changes here
        raw.answers["ChangeTransactionTariff"] = {"status": "TxNotFound"}
        status, answer = await rest(http, raw, "post", url, {"tariff_id": "late"})
        assert (status, answer["status"], answer["session"]["tariff_id"]) == (200, "TxNotFound", "site-a-guest")
        raw.answers["ChangeTransactionTariff"] = {"status": "Accepted"}
        status, answer = await rest(http, raw, "post", url, {"tariff_id": "late"})
        assert (status, answer["status"], answer["tariff_id"]) == (200, "Accepted", "late")
        assert answer["session"]["tariff_id"] == "late"
        expected = {"transactionId": transaction_id, "tariff": LATE_21}
        assert tariff_calls(raw) == [["ChangeTransactionTariff", expected]] * 2
        assert (await session(http, platform, transaction_id))["tariff_id"] == "late"
        raw.calls.clear()
        for body, code in (({"tariff_id": "stepped"}, 422), ({"tariff_id": "nope"}, 404), ({}, 422)):
            status, answer = await rest(http, raw, "post", url, body)
            assert status == code, (body, answer)
        assert tariff_calls(raw) == []
        # no running session by that id
        gone = f"{platform.http_url}/api/sessions/tx-none/tariff"
        async with http.post(gone, json={"tariff_id": "late"}) as response:
            assert response.status == 404
        await raw.ws.close()


async def test_a_changed_tariff_is_sent_to_the_connected_21_stations_it_is_the_default_of(platform: Platform) -> None:
    cheaper = {**TARIFF, "elements": [{"price_components": [{"type": "ENERGY", "price": 0.25, "vat": 21}]}]}
    cheaper_21 = {
        "tariffId": "site-a-guest",
        "currency": "EUR",
        "energy": {"prices": [{"priceKwh": 0.25}], "taxRates": [{"type": "VAT", "tax": 21}]},
    }
    async with aiohttp.ClientSession() as http:
        raw = await booted(http, platform)
        await calls_until(raw, "SetDefaultTariff")
        ws = await http.ws_connect(f"{platform.ocpp_url}/CP-B", protocols=("ocpp2.0.1",))
        await Raw(ws).call("b", "BootNotification", BOOT_201)
        raw.calls.clear()
        url = f"{platform.http_url}/api/tariffs/site-a-guest"
        body = {"site_id": "site-a", "audience": "guest", "tariff": cheaper}
        status, answer = await rest(http, raw, "put", url, body)
        assert (status, answer["stations_told"]) == (200, {"CP-A": "Accepted"})  # the 2.0.1 station: none
        assert tariff_calls(raw) == [["SetDefaultTariff", {"evseId": 0, "tariff": cheaper_21}]]
        # a tariff that is no station's default (a member's) is sent to none
        raw.calls.clear()
        members = {"site_id": "site-a", "audience": "member", "tariff": LATE}
        status, answer = await rest(http, raw, "put", f"{platform.http_url}/api/tariffs/members", members)
        assert (status, answer["stations_told"]) == (201, {})
        assert tariff_calls(raw) == []
        await raw.ws.close()
        await ws.close()
