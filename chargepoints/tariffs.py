"""OCPP 2.1 tariffs at the station: the default tariff sent when a station boots, and the cost a station
computed itself (TransactionEvent `costDetails`) kept with its session. Protocol logic only: which tariff
applies and its 2.1 form come through the `TariffSource` port (the gateway's, from the stored tariffs), the
station's cost goes back through it.

- After an Accepted BootNotification a 2.1 station is sent `SetDefaultTariff {evseId: 0, tariff}` with
  the tariff a guest (an id token of no account) would be priced at there; none when no tariff applies or
  it cannot be said in 2.1. Its answer is kept as a `SetDefaultTariff` charger event.
- `costDetails` in a TransactionEvent is read (`station_cost`) and stored with the session; the newest
  one reported is kept (the Ended one is final).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from chargepoints.ports import TransactionRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StationCost:
    """What a station said a transaction cost (CostDetailsType), in CoopGrid's words."""

    currency: str
    incl_tax: float | None  # totalCost.total, as the station rounded it
    excl_tax: float | None
    energy_wh: float  # totalUsage.energy
    duration_s: int  # totalUsage.chargingTime: the whole transaction, charging or not
    idle_s: int
    tariff_ids: tuple[str, ...]  # the tariffs its periods name, in order, each once
    failure: str | None  # failureToCalculate: the station's reason (or "failed" without one)

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "incl_tax": self.incl_tax,
            "excl_tax": self.excl_tax,
            "energy_wh": self.energy_wh,
            "duration_s": self.duration_s,
            "idle_s": self.idle_s,
            "tariff_ids": list(self.tariff_ids),
            "failure": self.failure,
        }


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def station_cost(details: Mapping[str, Any]) -> StationCost:
    """A CostDetailsType that passed the 2.1 schema, read; what the schema leaves open (absent totals,
    numbers too large for a float) reads as unknown, never as an error."""
    total = details.get("totalCost") or {}
    usage = details.get("totalUsage") or {}
    price = total.get("total") or {}
    tariff_ids: list[str] = []
    for period in details.get("chargingPeriods") or []:
        tariff_id = period.get("tariffId")
        if isinstance(tariff_id, str) and tariff_id not in tariff_ids:
            tariff_ids.append(tariff_id)
    failure = None
    if details.get("failureToCalculate"):
        failure = str(details.get("failureReason") or "failed")
    return StationCost(
        currency=str(total.get("currency", "")),
        incl_tax=_finite(price.get("inclTax")),
        excl_tax=_finite(price.get("exclTax")),
        energy_wh=_finite(usage.get("energy")) or 0.0,
        duration_s=int(usage.get("chargingTime", 0)),
        idle_s=int(usage.get("idleTime", 0)),
        tariff_ids=tuple(tariff_ids),
        failure=failure,
    )


class TariffSource(Protocol):
    async def default_tariff(self, charge_point_id: str) -> dict[str, Any] | None:
        """The OCPP 2.1 TariffType of the tariff a guest is priced at on this charger; None: none applies
        (or it cannot be said in 2.1)."""
        ...

    async def save_station_cost(self, record: TransactionRecord, details: dict[str, Any], cost: StationCost) -> None:
        """Keep the cost the station reported for the session (the newest replaces the one before)."""
        ...


Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Record = Callable[[str, str, dict[str, Any]], Awaitable[None]]


def set_default_tariff(tariff: dict[str, Any], evse_id: int = 0) -> dict[str, Any]:
    """SetDefaultTariffRequest: `tariff` for one EVSE, or (0) for every EVSE."""
    return {"evseId": evse_id, "tariff": tariff}


def change_transaction_tariff(transaction_id: str, tariff: dict[str, Any]) -> dict[str, Any]:
    """ChangeTransactionTariffRequest: the running transaction's tariff from now on."""
    return {"transactionId": transaction_id, "tariff": tariff}


class StationTariffs:
    """The 2.1 stations' tariffs and reported costs (one per central system; nothing without a source)."""

    def __init__(self, source: TariffSource | None, *, record: Record) -> None:
        self._source = source
        self._record = record
        self.reported = 0  # costDetails stored

    async def after_boot(self, charge_point_id: str, call: Call) -> None:
        """An Accepted 2.1 boot: the default tariff that applies to the station, sent once the reply is out."""
        if self._source is None:
            return
        tariff = await self._source.default_tariff(charge_point_id)
        if tariff is None:
            return
        answer = await call("SetDefaultTariff", set_default_tariff(tariff))
        if answer.get("status") != "Accepted":
            log.warning("%s refused default tariff %s: %s", charge_point_id, tariff.get("tariffId"), answer)
        await self._record(
            charge_point_id, "SetDefaultTariff", {"tariff_id": tariff.get("tariffId"), "evse_id": 0, **answer}
        )

    async def cost_reported(self, record: TransactionRecord, details: dict[str, Any]) -> None:
        """TransactionEvent.costDetails of the station's own transaction `record`."""
        if self._source is None:
            return
        await self._source.save_station_cost(record, details, station_cost(details))
        self.reported += 1
