"""What a session costs, told to the station that charges it: the running cost while it charges, the total at
the end. Protocol logic only: the figures come through the `CostQuotes` port (the gateway's one pricing, the
same that prices the session's view and its CDR), calls go out through the central system.

- OCPP 2.0.1 and 2.1: `CostUpdated {totalCost, transactionId}` every `interval_s` while a priced session
  runs; the total at the end in the `TransactionEvent(Ended)` answer's `totalCost`. OCPP 2.1 also puts the
  running cost in each `Updated` answer (2.1's schema says so; 2.0.1's keeps `totalCost` for the end).
- OCPP 1.6: the Open Charge Alliance's California Pricing customization, DataTransfer with vendorId
  `org.openchargealliance.costmsg`: messageId `RunningCost` (transactionId, timestamp, meterValue, cost,
  state, chargingPrice) every `interval_s` while it runs, `FinalCost` (transactionId, cost, priceText) once
  StopTransaction is answered; `data` is the JSON object as a string, as 1.6 DataTransfer carries it. A
  charger that answers UnknownVendorId (it has no such display) is not sent them again until it reconnects.
- The total at the end is the cost as known when the session ends. The green energy of its last minutes is
  settled by the green accounting a few minutes later (their generation was not yet measured); if the
  settled total (the CDR's) differs from what the station was told, it is told again (`settled()`), so that
  the last figure a station shows is the CDR's.
- A session without a tariff gets none of these messages. Costs are incl. VAT, in the tariff's currency.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from chargepoints.events import ChargerConnected, MeterSample, TransactionStarted, TransactionStopped
from chargepoints.ports import Clock, TransactionRecord

log = logging.getLogger(__name__)

COSTMSG_VENDOR = "org.openchargealliance.costmsg"


@dataclass(frozen=True, slots=True)
class CostQuote:
    """A session's cost as the pricing knows it now."""

    total: Decimal  # incl. VAT, rounded to the cent
    currency: str
    final: bool  # nothing of it will change any more (its CDR's)
    charging: bool = True  # energy flows (else it is idle: parked)
    kwh_price: Decimal | None = None  # the prices that apply now (for 1.6 RunningCost's chargingPrice)
    hour_price: Decimal | None = None
    flat_fee: Decimal | None = None


class CostQuotes(Protocol):
    async def quote(self, record: TransactionRecord, now: datetime) -> CostQuote | None:
        """The session's cost so far (running) or in all (stopped); None when it has no tariff."""
        ...


Call = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _number(amount: Decimal) -> float | int:
    """A JSON number for an amount: 2.42, 0 (never 2.4200000000000004)."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def cost_updated(record: TransactionRecord, quote: CostQuote) -> dict[str, Any]:
    """OCPP 2.0.1/2.1 CostUpdatedRequest."""
    return {"totalCost": _number(quote.total), "transactionId": record.ocpp_transaction_id or str(record.id)}


def running_cost_16(record: TransactionRecord, quote: CostQuote, now: datetime) -> dict[str, Any]:
    """OCPP 1.6 DataTransfer RunningCost (California Pricing)."""
    price: dict[str, Any] = {}
    for key, amount in (("kWhPrice", quote.kwh_price), ("hourPrice", quote.hour_price), ("flatFee", quote.flat_fee)):
        if amount is not None:
            price[key] = _number(amount)
    register = record.meter_last_wh if record.meter_last_wh is not None else record.meter_start_wh
    data = {
        "transactionId": record.id,
        "timestamp": _iso(now),
        "meterValue": round(register),
        "cost": _number(quote.total),
        "state": "Charging" if quote.charging else "Idle",
        "chargingPrice": price,
    }
    return _data_transfer("RunningCost", data)


def final_cost_16(record: TransactionRecord, quote: CostQuote) -> dict[str, Any]:
    """OCPP 1.6 DataTransfer FinalCost (California Pricing)."""
    energy_kwh = round(record.energy_wh / 1000, 3)
    text = f"{quote.total:.2f} {quote.currency} for {energy_kwh:g} kWh"
    return _data_transfer("FinalCost", {"transactionId": record.id, "cost": _number(quote.total), "priceText": text})


def _data_transfer(message_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"vendorId": COSTMSG_VENDOR, "messageId": message_id, "data": json.dumps(data, separators=(",", ":"))}


@dataclass(frozen=True, slots=True)
class _Told:
    charge_point_id: str
    version: str
    total: Decimal


class CostDisplay:
    """Running and final costs for the stations connected here (one per central system)."""

    # the events on_event handles: the event hub hands it no other
    event_types: tuple[type, ...] = (TransactionStarted, ChargerConnected, MeterSample, TransactionStopped)

    def __init__(
        self,
        quotes: CostQuotes | None,
        *,
        call: Call,
        version_of: Callable[[str], str | None],  # the OCPP version a charger is connected here with, or None
        get_transaction: Callable[[int], Awaitable[TransactionRecord | None]],
        last_register: Callable[[TransactionRecord], float],
        clock: Clock,
        interval_s: float = 60.0,
    ) -> None:
        self._quotes = quotes
        self._call = call
        self._version_of = version_of
        self._get_transaction = get_transaction
        self._last_register = last_register
        self._clock = clock
        self.interval_s = interval_s
        self._running: dict[int, str] = {}  # transaction id -> its charger, while it runs
        self._told: dict[int, _Told] = {}  # the total each finished session's station was told, until settled
        self._settling: asyncio.Queue[int] = asyncio.Queue()
        self._no_costmsg: set[str] = set()  # 1.6 chargers that answered our cost messages UnknownVendorId
        self._unpriced: set[int] = set()  # sessions without a tariff: never quoted again
        self._rounds = asyncio.Semaphore(32)  # quotes read the database: at most this many at once
        self.sent = 0  # cost messages the stations took

    @property
    def enabled(self) -> bool:
        return self._quotes is not None

    def on_event(self, event: object) -> None:
        """Follows which sessions run here (the central system's events)."""
        if isinstance(event, TransactionStarted):
            self._running[event.transaction_id] = event.charge_point_id
        elif isinstance(event, ChargerConnected):
            self._no_costmsg.discard(event.charge_point_id)  # new firmware, perhaps
        elif isinstance(event, MeterSample) and event.transaction_id is not None:  # one running since a restart
            if event.transaction_id not in self._unpriced:
                self._running.setdefault(event.transaction_id, event.charge_point_id)
        elif isinstance(event, TransactionStopped):
            self._running.pop(event.transaction_id, None)
            self._unpriced.discard(event.transaction_id)

    async def _quote(
        self, transaction_id: int, record: TransactionRecord | None = None
    ) -> tuple[TransactionRecord, CostQuote] | None:
        """The session's record (`record` if given, else read now) and its quote; None when it is unpriced."""
        if self._quotes is None:
            return None
        if record is None:
            record = await self._get_transaction(transaction_id)
        if record is None or record.tariff_id is None:
            self._running.pop(transaction_id, None)  # unpriced: never asked again
            self._unpriced.add(transaction_id)
            return None
        if record.active:
            record = replace(record, meter_last_wh=self._last_register(record))
        quote = await self._quotes.quote(record, self._clock())
        return None if quote is None else (record, quote)

    # -- while charging -----------------------------------------------------------------------------------
    async def running_total(self, record: TransactionRecord) -> float | int | None:
        """The running cost for an OCPP 2.1 TransactionEvent(Updated) answer's totalCost (its register as
        the central system has it now, however old `record` is)."""
        quoted = await self._quote(record.id, record) if record.active else None
        return None if quoted is None else _number(quoted[1].total)

    async def tell_running(self) -> None:
        """One round: every running priced session here gets its running cost."""
        async with asyncio.TaskGroup() as group:
            for transaction_id, charge_point_id in list(self._running.items()):
                if self._version_of(charge_point_id) is not None:
                    group.create_task(self._tell_running(charge_point_id, transaction_id))

    async def _tell_running(self, charge_point_id: str, transaction_id: int) -> None:
        try:
            async with self._rounds:
                quoted = await self._quote(transaction_id)
            version = self._version_of(charge_point_id)
            if quoted is not None and not quoted[0].active:
                self._running.pop(transaction_id, None)  # its stop was heard by another instance
            if quoted is None or version is None or not quoted[0].active:
                return
            record, quote = quoted
            if version == "1.6":
                await self._send(charge_point_id, "DataTransfer", running_cost_16(record, quote, self._clock()))
            else:
                await self._send(charge_point_id, "CostUpdated", cost_updated(record, quote))
        except Exception as exc:  # one station or one session never stops the round
            log.info("%s: running cost of session %s not sent: %s", charge_point_id, transaction_id, exc)

    async def run(self) -> None:
        """Long-running: the running cost every `interval_s` (0: never), and the settled totals as they come
        (each in a task of its own: a slow station holds up no other, nor the accounting that settled it)."""
        if self._quotes is None:
            return
        async with asyncio.TaskGroup() as group:
            if self.interval_s > 0:
                group.create_task(self._tell_running_every())
            while True:
                group.create_task(self.tell_settled(await self._settling.get()))

    async def _tell_running_every(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.tell_running()

    # -- at the end -----------------------------------------------------------------------------------------
    async def final_total(self, charge_point_id: str, record: TransactionRecord) -> float | int | None:
        """The total for an OCPP 2.0.1/2.1 TransactionEvent(Ended) answer's totalCost (None: not priced).
        `record` as read before it stopped: the stopped one is read again only for a priced session."""
        quoted = await self._quote(record.id) if record.tariff_id is not None and self.enabled else None
        if quoted is None:
            return None
        self._remember(charge_point_id, record.id, quoted[1])
        return _number(quoted[1].total)

    async def final_cost_16(self, charge_point_id: str, transaction_id: int) -> None:
        """OCPP 1.6: FinalCost once StopTransaction is answered (the same total is not sent twice)."""
        quoted = await self._quote(transaction_id)
        if quoted is None or quoted[0].charge_point_id != charge_point_id:
            return
        told = self._told.get(transaction_id)
        if told is not None and told.total == quoted[1].total:
            return
        self._remember(charge_point_id, transaction_id, quoted[1])
        await self._send(charge_point_id, "DataTransfer", final_cost_16(*quoted))

    def _remember(self, charge_point_id: str, transaction_id: int, quote: CostQuote) -> None:
        version = self._version_of(charge_point_id) or ""
        if quote.final:
            self._told.pop(transaction_id, None)  # nothing left to settle
        else:
            self._told[transaction_id] = _Told(charge_point_id, version, quote.total)

    def settled(self, transaction_id: int) -> None:
        """The session's accounting is final (its CDR issued): a station told a total that was not final yet
        is told the settled one if it differs (by run(), never waiting here for the station)."""
        if transaction_id in self._told:
            self._settling.put_nowait(transaction_id)

    async def tell_settled(self, transaction_id: int) -> None:
        told = self._told.pop(transaction_id, None)
        if told is None:
            return
        try:
            quoted = await self._quote(transaction_id)
            if quoted is None or quoted[1].total == told.total or self._version_of(told.charge_point_id) is None:
                return
            record, quote = quoted
            if told.version == "1.6":
                await self._send(told.charge_point_id, "DataTransfer", final_cost_16(record, quote))
            else:
                await self._send(told.charge_point_id, "CostUpdated", cost_updated(record, quote))
        except Exception as exc:  # the station may be gone, or answer with an error: the CDR stands regardless
            log.info("%s: settled cost of session %s not sent: %s", told.charge_point_id, transaction_id, exc)

    async def _send(self, charge_point_id: str, action: str, payload: dict[str, Any]) -> None:
        if action == "DataTransfer" and charge_point_id in self._no_costmsg:
            return
        answer = await self._call(charge_point_id, action, payload)
        if action == "DataTransfer" and answer.get("status") in ("UnknownVendorId", "UnknownMessageId"):
            # a 1.6 charger without the customization: not asked again until it connects anew
            self._no_costmsg.add(charge_point_id)
            log.info("%s does not take California Pricing cost messages (%s)", charge_point_id, answer["status"])
            return
        self.sent += 1
