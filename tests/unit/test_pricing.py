"""A session's cost from the green accounting's slots: green kWh at the green price, time of use by slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from billing.tariff import parse_tariff
from chargepoints.ports import TransactionRecord
from gateway.pricing import Pricing
from gateway.storage import open_store
from smartgrid.ledger import GreenAccounting

T0 = datetime(2026, 6, 1, 11, 30, tzinfo=UTC)
TARIFF = parse_tariff({
    "id": "t", "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.40, "green_price": 0.10}],
         "restrictions": {"start_time": "11:00", "end_time": "12:00"}},
        {"price_components": [{"type": "ENERGY", "price": 0.30, "green_price": 0.05}]},
    ],
})  # fmt: skip


def test_green_and_grid_energy_by_slot_at_the_slots_own_price() -> None:
    ledger = GreenAccounting(park_pool={"park": ""})
    ledger.start(7, "CP", T0, 0.0)
    # 11:30-12:30 at 6 kW; the park gives 3 kW from 12:00 on: half of the second hour green
    for minute in range(1, 61):
        ledger.meter(7, T0 + timedelta(minutes=minute), 100.0 * minute, 6000.0)
    ledger.generation({("park", T0 + timedelta(minutes=m)): 50.0 for m in range(30, 60)})
    ledger.stop(7, T0 + timedelta(minutes=60), 6000.0)
    ledger.close(T0 + timedelta(hours=2), final=True)
    slots = ledger.session_slots(7)
    assert slots is not None
    assert [s[0] for s in slots] == [T0 + timedelta(minutes=15 * k) for k in range(4)]
    assert sum(s[1] for s in slots) == 6000.0
    assert sum(s[2] for s in slots) == 1500.0
    record = TransactionRecord(7, "CP", 1, "TAG", 0.0, T0, meter_stop_wh=6000.0, stop_ts=T0 + timedelta(hours=1),
                               tariff_id="t")  # fmt: skip
    cost = Pricing({"t": TARIFF}, {}, ledger).cost(record, 6000.0, 1500.0, T0 + timedelta(hours=2))
    assert cost is not None
    # 11:30-12:00: 3 kWh grid at 0.40 = 1.20; 12:00-12:30: 1.5 kWh grid at 0.30 + 1.5 green at 0.05 = 0.525
    assert Decimal(cost["energy"]) == Decimal("1.73")  # 1.725, half-up
    assert Decimal(cost["green_energy"]) == Decimal("0.08")  # 0.075
    assert cost["tariff_id"] == "t"


def test_energy_the_accounting_has_not_split_yet_is_priced_as_grid_at_the_end() -> None:
    record = TransactionRecord(8, "CP", 1, "TAG", 0.0, T0, meter_last_wh=2000.0, tariff_id="t")
    cost = Pricing({"t": TARIFF}, {}, GreenAccounting()).cost(record, 2000.0, 0.0, T0 + timedelta(minutes=5))
    assert cost is not None
    assert cost["energy"] == "0.80"  # 2 kWh at 11:30's price
    assert Pricing({}, {}, GreenAccounting()).cost(record, 2000.0, 0.0, T0) is None  # no tariff: no cost


async def test_a_finished_sessions_stored_slots_price_it_once_the_accounting_has_let_it_go(tmp_path: Path) -> None:
    async with open_store(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}") as store:
        await store.accounts.put_tariff({"id": "t", "tariff": {"id": "t", "currency": "EUR", "elements": [
            {"price_components": [{"type": "ENERGY", "price": 0.40, "green_price": 0.10}]}]}})  # fmt: skip
        record, _ = await store.start_transaction("CP", 1, "TAG", 0.0, T0)
        assert record.tariff_id == "t"  # the only one: chosen at the start
        await store.stop_transaction("CP", record.id, 2000.0, T0 + timedelta(minutes=30), "Local")
        slots = [(T0, 1000.0, 1000.0), (T0 + timedelta(minutes=15), 1000.0, 0.0)]
        await store.accounts.put_session_slots(record.id, slots)
        await store.accounts.put_session_slots(record.id, slots)  # replaced, not added to
        stopped = await store.get_transaction(record.id)
        assert stopped is not None
        pricing = await Pricing.load(store, GreenAccounting(), [stopped])
        assert pricing.stored == {record.id: slots}
        cost = pricing.cost(stopped, 2000.0, 1000.0, T0 + timedelta(hours=1))
        assert cost is not None
        assert (cost["energy"], cost["green_energy"]) == ("0.50", "0.10")
