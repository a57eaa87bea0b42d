"""chargepoints.costs without a socket: which messages go to a station, and the correction once the green
accounting has settled a session whose total was told before it could be final."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from chargepoints.costs import CostDisplay, CostQuote, final_cost_16, running_cost_16
from chargepoints.events import ChargerConnected, MeterSample, TransactionStarted, TransactionStopped
from chargepoints.ports import TransactionRecord

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Quotes:
    def __init__(self) -> None:
        self.total = Decimal("2.42")
        self.final = True

    async def quote(self, record: TransactionRecord, now: datetime) -> CostQuote | None:
        if record.tariff_id is None:
            return None
        return CostQuote(self.total, "EUR", final=self.final and not record.active, kwh_price=Decimal("0.363"))


class World:
    def __init__(self, version: str) -> None:
        self.version = version
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.answer: dict[str, Any] = {}
        self.records: dict[int, TransactionRecord] = {}
        self.quotes = Quotes()
        self.display = CostDisplay(
            self.quotes, call=self.call, version_of=lambda cp: self.version, get_transaction=self.get,
            last_register=lambda r: 4000.0, clock=lambda: NOW, interval_s=60,
        )  # fmt: skip

    async def call(self, charge_point_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((charge_point_id, action, payload))
        return self.answer

    async def get(self, transaction_id: int) -> TransactionRecord | None:
        return self.records.get(transaction_id)

    def session(self, transaction_id: int, tariff_id: str | None, ocpp_id: str | None = None) -> TransactionRecord:
        record = TransactionRecord(transaction_id, "CP-1", 1, "TAG", 1000.0, NOW - timedelta(hours=1),
                                   ocpp_transaction_id=ocpp_id, tariff_id=tariff_id)  # fmt: skip
        self.records[transaction_id] = record
        return record

    def stop(self, transaction_id: int) -> None:
        record = self.records[transaction_id]
        self.records[transaction_id] = replace(record, meter_stop_wh=6000.0, stop_ts=NOW)


async def test_running_costs_go_to_priced_running_sessions_only() -> None:
    world = World("2.0.1")
    world.session(1, "member", "tx-1")
    world.session(2, None, "tx-2")
    for transaction_id in (1, 2):
        world.display.on_event(TransactionStarted("CP-1", 1, transaction_id, "TAG", 1000.0, NOW))
    await world.display.tell_running()
    assert world.calls == [("CP-1", "CostUpdated", {"totalCost": 2.42, "transactionId": "tx-1"})]
    world.display.on_event(TransactionStopped("CP-1", 1, 6000.0, "Local", NOW))
    world.calls.clear()
    await world.display.tell_running()
    assert world.calls == []


async def test_a_total_told_before_the_accounting_settled_is_corrected_with_the_cdrs() -> None:
    world = World("2.0.1")
    world.session(1, "member", "tx-1")
    world.stop(1)
    world.quotes.final = False  # sun in the last minutes: their green split is not known yet
    assert await world.display.final_total("CP-1", world.records[1]) == 2.42
    world.quotes.total, world.quotes.final = Decimal("2.33"), True  # the CDR: some of it was green
    await world.display.tell_settled(1)
    assert world.calls == [("CP-1", "CostUpdated", {"totalCost": 2.33, "transactionId": "tx-1"})]
    await world.display.tell_settled(1)  # once
    assert len(world.calls) == 1


async def test_a_final_total_needs_no_correction_and_16_gets_final_cost_once() -> None:
    world = World("1.6")
    world.session(7, "member")
    world.stop(7)
    await world.display.final_cost_16("CP-1", 7)
    await world.display.tell_settled(7)
    assert world.calls == [("CP-1", "DataTransfer", final_cost_16(world.records[7], CostQuote(
        Decimal("2.42"), "EUR", final=True)))]  # fmt: skip
    assert json.loads(world.calls[0][2]["data"]) == {
        "transactionId": 7,
        "cost": 2.42,
        "priceText": "2.42 EUR for 5 kWh",
    }
    await world.display.final_cost_16("CP-2", 7)  # another charger's transaction: nothing
    assert len(world.calls) == 1


async def test_16_final_cost_estimated_then_settled() -> None:
    world = World("1.6")
    world.session(7, "member")
    world.stop(7)
    world.quotes.final = False
    await world.display.final_cost_16("CP-1", 7)
    await world.display.final_cost_16("CP-1", 7)  # a resent StopTransaction: the same total is not sent again
    world.quotes.total, world.quotes.final = Decimal("2.30"), True
    runner = asyncio.create_task(world.display.run())
    world.display.settled(7)  # queued: the accounting that settles it never waits for the station
    for _ in range(100):
        if len(world.calls) == 2:
            break
        await asyncio.sleep(0.01)
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    assert [json.loads(p["data"])["cost"] for _, _, p in world.calls] == [2.42, 2.3]


def test_running_cost_16_data() -> None:
    record = TransactionRecord(3, "CP-1", 1, "TAG", 1000.0, NOW, meter_last_wh=2500.4)
    quote = CostQuote(Decimal("1.00"), "EUR", final=False, charging=False, hour_price=Decimal("1.5"))
    payload = running_cost_16(record, quote, NOW)
    assert (payload["vendorId"], payload["messageId"]) == ("org.openchargealliance.costmsg", "RunningCost")
    assert json.loads(payload["data"]) == {"transactionId": 3, "timestamp": "2026-06-01T12:00:00Z", "meterValue": 2500,
                                           "cost": 1, "state": "Idle", "chargingPrice": {"hourPrice": 1.5}}  # fmt: skip


async def test_without_a_pricing_nothing_is_told() -> None:
    calls: list[Any] = []

    async def call(*args: Any) -> dict[str, Any]:
        calls.append(args)
        return {}

    async def get(transaction_id: int) -> TransactionRecord | None:
        return TransactionRecord(1, "CP-1", 1, "TAG", 0.0, NOW, tariff_id="member")

    display = CostDisplay(None, call=call, version_of=lambda cp: "1.6", get_transaction=get,
                          last_register=lambda r: 0.0, clock=lambda: NOW)  # fmt: skip
    display.on_event(TransactionStarted("CP-1", 1, 1, "TAG", 0.0, NOW))
    await display.tell_running()
    assert (
        await display.final_total("CP-1", TransactionRecord(1, "CP-1", 1, "TAG", 0.0, NOW, tariff_id="member")) is None
    )
    await display.run()  # returns at once: nothing to tell
    assert calls == []


async def test_a_16_charger_without_the_customization_is_not_asked_again_until_it_reconnects() -> None:
    world = World("1.6")
    world.answer = {"status": "UnknownVendorId"}
    world.session(1, "member")
    world.display.on_event(TransactionStarted("CP-1", 1, 1, "TAG", 1000.0, NOW))
    await world.display.tell_running()
    await world.display.tell_running()
    assert len(world.calls) == 1
    assert world.display.sent == 0
    world.display.on_event(ChargerConnected("CP-1", "1.6", NOW))
    world.answer = {"status": "Accepted"}
    await world.display.tell_running()
    await world.display.tell_running()
    assert len(world.calls) == 3
    assert world.display.sent == 2


async def test_an_unpriced_session_is_read_once_however_often_it_meters() -> None:
    world = World("2.0.1")
    world.session(7, None)
    reads: list[int] = []
    original = world.get

    async def counted(transaction_id: int) -> TransactionRecord | None:
        reads.append(transaction_id)
        return await original(transaction_id)

    world.display._get_transaction = counted  # noqa: SLF001
    for _ in range(3):
        world.display.on_event(MeterSample("CP-1", 1, 7, NOW, energy_wh=1500.0))
        await world.display.tell_running()
    assert reads == [7]  # asked once, then known to be unpriced
    assert world.calls == []
