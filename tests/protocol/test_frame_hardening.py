"""Frames a charger cannot use get the CallError OCPP-J names, and its connection lives (issue 23, item 2).

Over a real loopback WebSocket, both protocol versions: JSON nested too deeply, non-finite numbers,
connector and EVSE ids beyond 32 bits or beyond what the charger has, message ids beyond 36 characters.
"""

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
from tests.protocol.ocpp_client import Client, connected, nested

BAD_JSON = {"1.6": "FormationViolation", "2.0.1": "FormatViolation"}
BAD_FRAME = {"1.6": "ProtocolError", "2.0.1": "RpcFrameworkError"}
VERSIONS = ["1.6", "2.0.1"]


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(make_settings(tmp_path)) as running:
        yield running


def tx_event(event_type: str, seq_no: int, energy: str, evse_id: int = 1) -> str:
    """A 2.0.1 TransactionEvent as JSON text, its energy register given as a JSON literal."""
    head = {
        "eventType": event_type,
        "timestamp": f"2026-03-01T11:{10 + seq_no:02d}:00Z",
        "triggerReason": {"Started": "Authorized", "Updated": "MeterValuePeriodic"}[event_type],
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "tx-1"},
        "evse": {"id": evse_id, "connectorId": 1},
    }
    meter = (
        '[{"timestamp": "2026-03-01T11:00:00Z", "sampledValue": '
        f'[{{"value": {energy}, "measurand": "Energy.Active.Import.Register"}}]}}]'
    )
    return json.dumps(head)[:-1] + f', "meterValue": {meter}}}'


async def rest_call(platform: Platform, client: Client, action: str, body: dict[str, Any], reply: Any) -> Any:
    """An operator's OCPP call through REST; the charger answers it with `reply`."""
    async with aiohttp.ClientSession() as http:
        url = f"{platform.http_url}/api/chargepoints/CP-A/ocpp/{action}"
        request = asyncio.ensure_future(http.post(url, json=body))
        call = json.loads(await client.ws.receive_str(timeout=5))
        assert call[2:] == [action, body]
        await client.ws.send_str(json.dumps([3, call[1], reply]))
        response = await request
        assert response.status == 200, await response.text()
        return await response.json()


# -- nesting ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
async def test_json_nested_2000_levels_is_a_bad_json_call_error_and_the_connection_lives(
    platform: Platform, version: str
) -> None:
    async with connected(platform, "CP-A", version) as client:
        frame = '[2,"deep-1","DataTransfer",{"vendorId":"v","data":' + nested(2000) + "}]"
        assert len(frame) < 4_100
        answer = await client.send_raw(frame)
        assert answer[:3] == [4, "deep-1", BAD_JSON[version]]  # the id read from the frame's start
        await client.alive()
        answer = await client.send_raw(nested(2000))
        assert answer[:3] == [4, "-1", BAD_JSON[version]]  # no id to read
        await client.alive()


@pytest.mark.parametrize("levels", [100, 975])
@pytest.mark.parametrize("version", VERSIONS)
async def test_a_payload_that_parses_but_nests_too_deeply_is_refused_not_an_internal_error(
    platform: Platform, version: str, levels: int
) -> None:
    """975 levels: what the parser takes but storing it as JSON (a DataTransfer is recorded) would not."""
    async with connected(platform, "CP-A", version) as client:
        frame = '[2,"mid","DataTransfer",{"vendorId":"v","data":' + nested(levels) + "}]"
        answer = await client.send_raw(frame)
        assert answer[:3] == [4, "mid", BAD_JSON[version]]
        await client.alive()
    assert await platform.store.events.count("CP-A") == 0


# -- non-finite numbers -------------------------------------------------------------------------------------
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_non_finite_numbers_in_a_201_transaction_event_are_refused_and_change_nothing(
    platform: Platform, literal: str
) -> None:
    async with connected(platform, "CP-A", "2.0.1") as client:
        assert (await client.send_raw(f'[2,"s","TransactionEvent",{tx_event("Started", 0, "1000")}]'))[0] == 3
        answer = await client.send_raw(f'[2,"u","TransactionEvent",{tx_event("Updated", 1, literal)}]')
        assert answer[:3] == [4, "u", "FormatViolation"]
        await client.alive()
        # the same event with a number goes through: nothing of the refused one was kept
        assert (await client.send_raw(f'[2,"v","TransactionEvent",{tx_event("Updated", 1, "2500")}]'))[0] == 3
    await platform.central.flush_meters()
    record = await platform.store.find_transaction_201("CP-A", "tx-1")
    assert record is not None
    assert (record.meter_start_wh, record.meter_last_wh, record.last_seq_no) == (1000.0, 2500.0, 1)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_non_finite_numbers_in_16_are_refused_as_formation_violations(platform: Platform, literal: str) -> None:
    async with connected(platform, "CP-A", "1.6") as client:
        start = '{"connectorId": 1, "idTag": "TAG-OK", "meterStart": %s, "timestamp": "2026-03-01T11:00:00Z"}'
        answer = await client.send_raw(f'[2,"st","StartTransaction",{start % literal}]')
        assert answer[:3] == [4, "st", "FormationViolation"]
        await client.alive()
    assert await platform.store.list_transactions(charge_point_id="CP-A") == []


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", "1e999"])
async def test_16_meter_values_that_are_no_finite_number_are_refused_and_change_nothing(
    platform: Platform, value: str
) -> None:
    async with connected(platform, "CP-A", "1.6") as client:
        start = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 1000, "timestamp": "2026-03-01T11:00:00Z"}
        tx = (await client.call("st", "StartTransaction", start))[2]["transactionId"]
        samples = [{"value": "1500", "unit": "Wh"}, {"value": value, "unit": "Wh", "measurand": "Power.Active.Import"}]
        meter = {"connectorId": 1, "transactionId": tx, "meterValue": [{"timestamp": "2026-03-01T11:05:00Z"}]}
        meter["meterValue"][0]["sampledValue"] = samples
        answer = await client.call("mv", "MeterValues", meter)
        assert answer[:3] == [4, "mv", "PropertyConstraintViolation"]
        await client.alive()
    await platform.central.flush_meters()
    record = await platform.store.get_transaction(tx)
    assert record is not None
    assert record.meter_last_wh is None


# -- connector and EVSE ids ----------------------------------------------------------------------------------
@pytest.mark.parametrize("connector_id", [10**30, 2**31, -1])
async def test_16_connector_ids_beyond_int32_or_negative_are_property_constraint_violations(
    platform: Platform, connector_id: int
) -> None:
    async with connected(platform, "CP-A", "1.6") as client:
        status = {"connectorId": connector_id, "errorCode": "NoError", "status": "Available"}
        assert (await client.call("s", "StatusNotification", status))[:3] == [4, "s", "PropertyConstraintViolation"]
        start = {"connectorId": connector_id, "idTag": "TAG-OK", "meterStart": 0, "timestamp": "2026-03-01T11:00:00Z"}
        assert (await client.call("t", "StartTransaction", start))[:3] == [4, "t", "PropertyConstraintViolation"]
        meter = {
            "connectorId": connector_id,
            "meterValue": [{"timestamp": "2026-03-01T11:00:00Z", "sampledValue": [{"value": "1"}]}],
        }
        assert (await client.call("m", "MeterValues", meter))[:3] == [4, "m", "PropertyConstraintViolation"]
        # the largest 32-bit id is still an id, for a charger whose connectors we do not know
        status["connectorId"] = 2**31 - 1
        assert (await client.call("ok", "StatusNotification", status))[0] == 3
    assert platform.central.state("CP-A").connectors == {2**31 - 1: "Available"}
    assert await platform.store.list_transactions(charge_point_id="CP-A") == []


@pytest.mark.parametrize("evse_id", [10**30, 2**31, -1])
async def test_201_evse_ids_beyond_int32_or_negative_are_property_constraint_violations(
    platform: Platform, evse_id: int
) -> None:
    async with connected(platform, "CP-A", "2.0.1") as client:
        status = {
            "timestamp": "2026-03-01T11:00:00Z",
            "connectorStatus": "Available",
            "evseId": evse_id,
            "connectorId": 1,
        }
        assert (await client.call("s", "StatusNotification", status))[:3] == [4, "s", "PropertyConstraintViolation"]
        event = f'[2,"t","TransactionEvent",{tx_event("Started", 0, "0", evse_id=evse_id)}]'
        assert (await client.send_raw(event))[:3] == [4, "t", "PropertyConstraintViolation"]
        sample = {"value": 1.0}
        meter = {"evseId": evse_id, "meterValue": [{"timestamp": "2026-03-01T11:00:00Z", "sampledValue": [sample]}]}
        assert (await client.call("m", "MeterValues", meter))[:3] == [4, "m", "PropertyConstraintViolation"]
        await client.alive()
    assert platform.central.state("CP-A").connectors == {}
    assert await platform.store.list_transactions(charge_point_id="CP-A") == []


async def test_16_connector_ids_beyond_number_of_connectors_are_refused(platform: Platform) -> None:
    async with connected(platform, "CP-A", "1.6") as client:
        key = {"key": "NumberOfConnectors", "readonly": True, "value": "2"}
        answer = await rest_call(
            platform, client, "GetConfiguration", {"key": ["NumberOfConnectors"]}, {"configurationKey": [key]}
        )
        assert answer == {"configurationKey": [key]}
        for connector_id, expected in [(0, 3), (2, 3), (3, 4)]:
            status = {"connectorId": connector_id, "errorCode": "NoError", "status": "Available"}
            assert (await client.call("s", "StatusNotification", status))[:2] == [expected, "s"]
        start = {"connectorId": 3, "idTag": "TAG-OK", "meterStart": 0, "timestamp": "2026-03-01T11:00:00Z"}
        assert (await client.call("t", "StartTransaction", start))[:3] == [4, "t", "PropertyConstraintViolation"]
        start["connectorId"] = 0  # a transaction is on a connector, never on the charger as a whole
        assert (await client.call("t0", "StartTransaction", start))[:3] == [4, "t0", "PropertyConstraintViolation"]
        meter = {
            "connectorId": 3,
            "meterValue": [{"timestamp": "2026-03-01T11:00:00Z", "sampledValue": [{"value": "1"}]}],
        }
        assert (await client.call("m", "MeterValues", meter))[:3] == [4, "m", "PropertyConstraintViolation"]
    assert platform.central.state("CP-A").connectors == {0: "Available", 2: "Available"}


async def test_201_evse_ids_beyond_the_full_inventory_are_refused(platform: Platform) -> None:
    async with connected(platform, "CP-A", "2.0.1") as client:
        body = {"requestId": 7, "reportBase": "FullInventory"}
        assert await rest_call(platform, client, "GetBaseReport", body, {"status": "Accepted"}) == {
            "status": "Accepted"
        }
        for seq_no, evse_id, more in [(0, 1, True), (1, 2, False)]:
            report = {
                "requestId": 7,
                "generatedAt": "2026-03-01T11:00:00Z",
                "seqNo": seq_no,
                "tbc": more,
                "reportData": [
                    {
                        "component": {"name": "EVSE", "evse": {"id": evse_id}},
                        "variable": {"name": "Available"},
                        "variableAttribute": [{"value": "true"}],
                    }
                ],
            }
            assert (await client.call(f"r{seq_no}", "NotifyReport", report))[0] == 3
        event = f'[2,"t3","TransactionEvent",{tx_event("Started", 0, "0", evse_id=3)}]'
        assert (await client.send_raw(event))[:3] == [4, "t3", "PropertyConstraintViolation"]
        status = {"timestamp": "2026-03-01T11:00:00Z", "connectorStatus": "Available", "evseId": 3, "connectorId": 1}
        assert (await client.call("s3", "StatusNotification", status))[:3] == [4, "s3", "PropertyConstraintViolation"]
        event = f'[2,"t2","TransactionEvent",{tx_event("Started", 0, "0", evse_id=2)}]'
        assert (await client.send_raw(event))[0] == 3
    records = await platform.store.list_transactions(charge_point_id="CP-A")
    assert [r.connector_id for r in records] == [2]


# -- message ids ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
async def test_message_ids_beyond_36_characters_or_not_strings_are_refused_and_never_echoed(
    platform: Platform, version: str
) -> None:
    async with connected(platform, "CP-A", version) as client:
        longest = "u" * 36
        assert (await client.call(longest, "Heartbeat", {}))[:2] == [3, longest]
        for too_long in ("u" * 37, "x" * 1000):
            answer = await client.call(too_long, "Heartbeat", {})
            assert answer[:3] == [4, "-1", BAD_FRAME[version]]
            assert too_long[:30] not in json.dumps(answer)
        for not_a_string in (17, None, ["id"], {"id": 1}):
            answer = await client.send_raw(json.dumps([2, not_a_string, "Heartbeat", {}]))
            assert answer[:3] == [4, "-1", BAD_FRAME[version]]
        # an answer to a call we never made, under such an id, is ignored
        await client.ws.send_str(json.dumps([3, "y" * 37, {}]))
        await client.alive()


async def test_16_connector_ids_beyond_the_configured_count_are_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, chargers=[{"id": "CP-A", "site_id": "site-a", "connectors": 2}])
    async with running_platform(settings) as platform, connected(platform, "CP-A", "1.6") as client:
        for connector_id, expected in [(2, 3), (3, 4)]:
            status = {"connectorId": connector_id, "errorCode": "NoError", "status": "Available"}
            assert (await client.call("s", "StatusNotification", status))[:2] == [expected, "s"]
    assert platform.central.state("CP-A").connectors == {2: "Available"}
