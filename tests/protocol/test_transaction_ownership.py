"""A charger's messages change only its own transactions (issue 23, item 3).

Charger B names charger A's transaction (or one that does not exist) in 1.6 MeterValues and
StopTransaction: it is answered as OCPP wants, A's session does not change, and the attempt is a
"ForeignTransaction" charger event, one warning per connection and a count in /metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from chargepoints.validation import validator
from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.ocpp_client import Client, connected


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(make_settings(tmp_path)) as running:
        yield running


def meter_values(transaction_id: int, wh: str, connector_id: int = 1) -> dict[str, object]:
    return {
        "connectorId": connector_id,
        "transactionId": transaction_id,
        "meterValue": [{"timestamp": "2026-03-01T11:05:00Z", "sampledValue": [{"value": wh, "unit": "Wh"}]}],
    }


async def start(client: Client, meter_start: int = 1000) -> int:
    payload = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": meter_start, "timestamp": "2026-03-01T11:00:00Z"}
    answer = await client.call("start", "StartTransaction", payload)
    assert answer[0] == 3
    return int(answer[2]["transactionId"])


async def metric_lines(platform: Platform, name: str) -> list[str]:
    async with aiohttp.ClientSession() as http, http.get(f"{platform.http_url}/metrics") as response:
        text = await response.text()
    return [line for line in text.splitlines() if line.startswith(name)]


async def test_16_meter_values_and_stops_naming_another_chargers_transaction_change_nothing_of_it(
    platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    async with connected(platform, "CP-A", "1.6") as a, connected(platform, "CP-B", "1.6") as b:
        tx_a = await start(a)
        assert (await a.call("a1", "MeterValues", meter_values(tx_a, "1500")))[:3] == [3, "a1", {}]
        await platform.central.flush_meters()
        with caplog.at_level(logging.WARNING, logger="chargepoints"):
            # B names A's transaction: answered (MeterValues.conf is empty), and A's session stays as it was
            for n in range(3):
                assert (await b.call(f"b{n}", "MeterValues", meter_values(tx_a, "99999")))[:3] == [3, f"b{n}", {}]
            stop = {
                "transactionId": tx_a,
                "meterStop": 99999,
                "timestamp": "2026-03-01T11:06:00Z",
                "idTag": "TAG-OK",
                "transactionData": [{"timestamp": "2026-03-01T11:06:00Z", "sampledValue": [{"value": "88888"}]}],
            }
            answer = await b.call("bs", "StopTransaction", stop)
            assert answer[:2] == [3, "bs"]
            validator("1.6", "StopTransaction", response=True)(answer[2])  # a valid conf: B stops retrying
            # B names a transaction nobody has
            assert (await b.call("bu", "MeterValues", meter_values(424242, "5")))[:3] == [3, "bu", {}]
            answer = await b.call("bus", "StopTransaction", {**stop, "transactionId": 424242})
            assert answer[:2] == [3, "bus"]
            validator("1.6", "StopTransaction", response=True)(answer[2])
        await platform.central.flush_meters()
        record = await platform.store.get_transaction(tx_a)
        assert record is not None
        assert record.active
        assert (record.meter_last_wh, record.energy_wh) == (1500.0, 500.0)
        assert platform.ledger.live[tx_a].charge_point_id == "CP-A"
        # A's own messages still count
        assert (await a.call("a2", "MeterValues", meter_values(tx_a, "2000")))[:3] == [3, "a2", {}]
        stop_a = {"transactionId": tx_a, "meterStop": 2500, "timestamp": "2026-03-01T11:07:00Z"}
        assert (await a.call("as", "StopTransaction", stop_a))[:3] == [3, "as", {}]
    record = await platform.store.get_transaction(tx_a)
    assert record is not None
    assert (record.active, record.energy_wh) == (False, 1500.0)

    # one warning for B's connection, no raw flood of ids
    warnings = [r for r in caplog.records if "CP-B" in r.getMessage() and "transaction" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    # recorded as security events of B, one per distinct attempt
    events = await platform.store.events.list("CP-B")
    foreign = [e for e in events if e["kind"] == "ForeignTransaction"]
    seen = sorted((e["payload"]["action"], e["payload"]["transactionId"], e["payload"]["reason"]) for e in foreign)
    assert seen == sorted(
        [
            ("MeterValues", 424242, "unknown"),
            ("MeterValues", tx_a, "foreign"),
            ("StopTransaction", 424242, "unknown"),
            ("StopTransaction", tx_a, "foreign"),
        ]
    )
    assert [e for e in await platform.store.events.list("CP-A") if e["kind"] == "ForeignTransaction"] == []
    # counted in /metrics, once per message
    counted = await metric_lines(platform, "coopgrid_ocpp_foreign_transactions_total")
    assert sorted(counted) == [
        'coopgrid_ocpp_foreign_transactions_total{action="MeterValues",reason="foreign"} 3.0',
        'coopgrid_ocpp_foreign_transactions_total{action="MeterValues",reason="unknown"} 1.0',
        'coopgrid_ocpp_foreign_transactions_total{action="StopTransaction",reason="foreign"} 1.0',
        'coopgrid_ocpp_foreign_transactions_total{action="StopTransaction",reason="unknown"} 1.0',
    ]


async def test_16_foreign_meter_values_are_not_energy_of_the_owners_live_session(platform: Platform) -> None:
    """The live ledger (energy and green energy per session) hears nothing of B's sample for A's session."""
    async with connected(platform, "CP-A", "1.6") as a, connected(platform, "CP-B", "1.6") as b:
        tx_a = await start(a)
        assert (await a.call("a", "MeterValues", meter_values(tx_a, "1500")))[0] == 3
        await asyncio.sleep(0.2)  # the events reach the ledger
        live = platform.ledger.live[tx_a]
        before = (live.last_energy_wh, live.energy_wh, live.green_wh)
        assert before[:2] == (1500.0, 500.0)
        assert (await b.call("b", "MeterValues", meter_values(tx_a, "99999")))[0] == 3
        await b.alive()
        await asyncio.sleep(0.2)
        assert (live.last_energy_wh, live.energy_wh, live.green_wh) == before
        assert await platform.store.list_transactions(charge_point_id="CP-B") == []
