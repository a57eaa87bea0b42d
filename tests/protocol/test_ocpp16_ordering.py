"""One outstanding call per charger, queued offline messages, connector 0 totals."""

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


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(make_settings(tmp_path)) as running:
        yield running


async def call(ws: aiohttp.ClientWebSocketResponse, unique_id: str, action: str, payload: dict[str, Any]) -> Any:
    await ws.send_str(json.dumps([2, unique_id, action, payload]))
    return json.loads(await ws.receive_str(timeout=5))


async def test_only_one_call_outstanding_per_charger(platform: Platform) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
    ):
        url = f"{platform.http_url}/api/chargepoints/CP-A/ocpp/ChangeAvailability"
        requests = [
            asyncio.ensure_future(http.post(url, json={"connectorId": i, "type": "Operative"})) for i in (1, 2, 3)
        ]
        seen = []
        for _ in range(3):
            frame = json.loads(await ws.receive_str(timeout=5))
            seen.append(frame[3]["connectorId"])
            # while this call is unanswered, nothing else arrives
            with pytest.raises(TimeoutError):
                await ws.receive_str(timeout=0.3)
            await ws.send_str(json.dumps([3, frame[1], {"status": "Accepted"}]))
        responses = await asyncio.gather(*requests)
        assert sorted(seen) == [1, 2, 3]
        assert [r.status for r in responses] == [200, 200, 200]


async def test_messages_queued_offline_are_accepted_in_order(platform: Platform) -> None:
    """A charger replays a whole offline session after reconnecting, with past timestamps."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
    ):
        start = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 100, "timestamp": "2025-01-01T08:00:00Z"}
        started = await call(ws, "1", "StartTransaction", start)
        tx = started[2]["transactionId"]
        for minute, energy in ((15, 1100), (30, 2100)):
            sample = {"value": str(energy), "unit": "Wh"}
            meter = {
                "connectorId": 1,
                "transactionId": tx,
                "meterValue": [{"timestamp": f"2025-01-01T08:{minute}:00Z", "sampledValue": [sample]}],
            }
            assert (await call(ws, f"m{minute}", "MeterValues", meter))[0] == 3
        stop = {"transactionId": tx, "meterStop": 2600, "timestamp": "2025-01-01T08:45:00Z"}
        assert await call(ws, "s", "StopTransaction", stop) == [3, "s", {}]
    record = await platform.store.get_transaction(tx)
    assert record is not None
    assert record.start_ts.isoformat() == "2025-01-01T08:00:00+00:00"
    assert record.stop_ts is not None
    assert record.stop_ts.isoformat() == "2025-01-01T08:45:00+00:00"
    assert record.energy_wh == 2500.0


async def test_connector_0_is_the_charger_total_not_a_session(platform: Platform) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
    ):
        start = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": "2025-01-01T08:00:00Z"}
        tx = (await call(ws, "1", "StartTransaction", start))[2]["transactionId"]
        total = {
            "connectorId": 0,
            "transactionId": tx,
            "meterValue": [{"timestamp": "2025-01-01T08:10:00Z", "sampledValue": [{"value": "99999", "unit": "Wh"}]}],
        }
        assert (await call(ws, "0", "MeterValues", total))[0] == 3
        own = {
            "connectorId": 1,
            "transactionId": tx,
            "meterValue": [{"timestamp": "2025-01-01T08:10:00Z", "sampledValue": [{"value": "1.5", "unit": "kWh"}]}],
        }
        assert (await call(ws, "m", "MeterValues", own))[0] == 3
    await platform.central.flush_meters()
    record = await platform.store.get_transaction(tx)
    assert record is not None
    assert record.energy_wh == 1500.0
