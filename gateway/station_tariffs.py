"""The stored tariffs as OCPP 2.1 stations are told them (chargepoints.tariffs.TariffSource), and the costs
they report kept: the one tariff table, translated by billing.ocpp21."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from billing.ocpp21 import ocpp21_tariff
from billing.tariff import TariffError, parse_tariff
from chargepoints.ports import TransactionRecord
from chargepoints.tariffs import StationCost
from gateway.storage import Store

log = logging.getLogger(__name__)


class StoredTariffs:
    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    async def tariff_21(self, tariff_id: str) -> dict[str, Any]:
        """The stored tariff as an OCPP 2.1 TariffType. Raises LookupError (no such tariff) or TariffError
        (it cannot be said in 2.1; the message names the field)."""
        row = await self._store.accounts.get_tariff(tariff_id)
        if row is None:
            raise LookupError(tariff_id)
        return ocpp21_tariff(parse_tariff(row["tariff"], timezone=row["timezone"]))

    async def guest_tariff_id(self, charge_point_id: str) -> str | None:
        return await self._store.accounts.guest_tariff_id(charge_point_id)

    async def default_tariff(self, charge_point_id: str) -> dict[str, Any] | None:
        tariff_id = await self.guest_tariff_id(charge_point_id)
        if tariff_id is None:
            return None
        try:
            return await self.tariff_21(tariff_id)
        except (LookupError, TariffError) as exc:
            log.warning("%s: tariff %s not sent as its default: %s", charge_point_id, tariff_id, exc)
            return None

    async def save_station_cost(self, record: TransactionRecord, details: dict[str, Any], cost: StationCost) -> None:
        await self._store.station_costs.put(record.id, cost.as_dict(), details, self._clock())
