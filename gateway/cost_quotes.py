"""The cost quotes the central system tells the stations (chargepoints.costs.CostQuotes), from the one pricing:
the same Pricing, energy and green energy that the session's own view shows, so that a station, the session,
its CDR and the statement agree."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from billing.tariff import Dimension
from chargepoints.costs import CostQuote
from chargepoints.ports import TransactionRecord
from gateway.energy import EnergyIntervals
from gateway.pricing import Pricing, metered_energy_wh
from gateway.storage import Store


class PricedQuotes:
    def __init__(self, store: Store, energy: Callable[[], EnergyIntervals]) -> None:
        self._store = store
        self._energy_of = energy  # built after the central system that asks

    @property
    def _energy(self) -> EnergyIntervals:
        return self._energy_of()

    async def quote(self, record: TransactionRecord, now: datetime) -> CostQuote | None:
        if record.tariff_id is None:
            return None
        ledger = self._energy.ledger
        pricing = await Pricing.load(self._store, ledger, [record])
        energy_wh = metered_energy_wh(record, ledger, self._energy.energy_source(record))
        cost = pricing.cost(record, energy_wh, self._energy.green_energy_wh(record), now)
        if cost is None:
            return None
        live = ledger.live.get(record.id)
        tariff = pricing.tariffs.get(record.tariff_id)
        since_s = (now - record.start_ts).total_seconds()

        def component(dimension: Dimension) -> Decimal | None:
            """The price of a dimension that applies now, incl. VAT as the cost is (energy: the grid price)."""
            found = tariff.component(dimension, now, since_s) if tariff is not None else None
            if found is None:
                return None
            return (found.price * (1 + (found.vat or Decimal(0)) / 100)).normalize()

        return CostQuote(
            total=Decimal(cost["incl_vat"]),
            currency=str(cost["currency"]),
            final=not record.active and pricing.settled(record, energy_wh, now),
            charging=record.active and (live is None or live.power_w is None or live.power_w > 0),
            kwh_price=component("ENERGY"),
            hour_price=component("TIME"),
            flat_fee=component("FLAT"),
        )
