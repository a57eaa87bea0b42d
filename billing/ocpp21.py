"""A CoopGrid tariff (billing.tariff.Tariff, OCPI 2.2.1) as an OCPP 2.1 TariffType, for the stations that
price sessions themselves (SetDefaultTariff, ChangeTransactionTariff). Pure: a Tariff in, a JSON object out.

What CoopGrid prices is what the station is told, dimension by dimension:

- ENERGY per kWh: `energy.prices[].priceKwh`;
- TIME per hour (while charging): `chargingTime.prices[].priceMinute` (the price / 60);
- PARKING_TIME per hour: `idleTime.prices[].priceMinute` (the price / 60);
- FLAT per session: `fixedFee.prices[].priceFixed`;
- `vat` (percent): the dimension's `taxRates`, `[{"type": "VAT", "tax": vat}]`;
- restrictions `start_time`/`end_time`, `day_of_week`, `min_duration`/`max_duration`: conditions
  `startTimeOfDay`/`endTimeOfDay`, `dayOfWeek` (Monday, ...), `minTime`/`maxTime`.

OCPI takes, per dimension, the first element whose restrictions hold; so the prices of a dimension are listed
in element order, each with its element's restrictions as conditions, and a station takes the first whose
conditions hold. A FLAT fee is charged by the element that holds at the start: `min_duration` > 0 never
holds then (that price is left out), `max_duration` > 0 always does (dropped). Times of day are local to the
tariff's site, as 2.1's are to the station.

Not expressible, refused with TariffError naming the field: a `step_size` other than 1 (2.1 bills exactly),
prices of one dimension with different VAT rates (2.1 has one set of tax rates per dimension). CoopGrid's
`green_price` has no counterpart (a station cannot know which kWh were green): the station is told the grid
`price`, an upper bound of what CoopGrid charges; the cost CoopGrid tells it (running and total) and the CDR
stay CoopGrid's own.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billing.tariff import Dimension, PriceComponent, Restrictions, Tariff, TariffError

DAY_NAMES = {
    "MONDAY": "Monday",
    "TUESDAY": "Tuesday",
    "WEDNESDAY": "Wednesday",
    "THURSDAY": "Thursday",
    "FRIDAY": "Friday",
    "SATURDAY": "Saturday",
    "SUNDAY": "Sunday",
}
# OCPI dimension -> (OCPP 2.1 field, price key, divisor of the OCPI price)
FIELDS: dict[Dimension, tuple[str, str, int]] = {
    "ENERGY": ("energy", "priceKwh", 1),
    "TIME": ("chargingTime", "priceMinute", 60),
    "PARKING_TIME": ("idleTime", "priceMinute", 60),
    "FLAT": ("fixedFee", "priceFixed", 1),
}


def _number(amount: Decimal) -> float | int:
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def _conditions(restrictions: Restrictions, *, fixed: bool) -> dict[str, Any] | None:
    """The element's restrictions as 2.1 conditions; None when this price can never apply (a FLAT fee)."""
    conditions: dict[str, Any] = {}
    if restrictions.start_time is not None:
        conditions["startTimeOfDay"] = restrictions.start_time.strftime("%H:%M")
    if restrictions.end_time is not None:
        conditions["endTimeOfDay"] = restrictions.end_time.strftime("%H:%M")
    if restrictions.day_of_week:
        conditions["dayOfWeek"] = [DAY_NAMES[d] for d in DAY_NAMES if d in restrictions.day_of_week]
    low, high = restrictions.min_duration_s, restrictions.max_duration_s
    if fixed:  # charged at the start: 0 s into the session
        if (low is not None and low > 0) or (high is not None and high <= 0):
            return None
    else:
        if low is not None:
            conditions["minTime"] = round(low)
        if high is not None:
            conditions["maxTime"] = round(high)
    return conditions


def ocpp21_tariff(tariff: Tariff) -> dict[str, Any]:
    """The OCPP 2.1 TariffType (camelCase, as on the wire) that prices as `tariff` does."""
    out: dict[str, Any] = {"tariffId": tariff.id, "currency": tariff.currency}
    for dimension, (field, key, divisor) in FIELDS.items():
        prices: list[dict[str, Any]] = []
        vats: list[tuple[Decimal, str]] = []
        for e, element in enumerate(tariff.elements):
            found = [(c, i) for i, c in enumerate(element.price_components) if c.type == dimension]
            if not found:
                continue
            component, c = found[0]  # OCPI: an element's first component of the dimension
            where = f"elements.{e}.price_components.{c}"
            _check(component, where)
            conditions = _conditions(element.restrictions, fixed=dimension == "FLAT")
            if conditions is None:
                continue
            price: dict[str, Any] = {key: _number(component.price / divisor)}
            if conditions:
                price["conditions"] = conditions
            prices.append(price)
            vats.append((component.vat or Decimal(0), where))
            if not conditions:
                break  # it always holds: the elements after it never price this dimension
        if not prices:
            continue
        rates = {vat for vat, _ in vats}
        if len(rates) > 1:
            where = next(w for vat, w in vats if vat != vats[0][0])
            raise TariffError(f"{where}.vat: OCPP 2.1 has one tax rate per dimension ({dimension})")
        entry: dict[str, Any] = {"prices": prices}
        (vat,) = rates
        if vat > 0:
            entry["taxRates"] = [{"type": "VAT", "tax": _number(vat)}]
        out[field] = entry
    return out


def _check(component: PriceComponent, where: str) -> None:
    if component.step_size != 1:
        raise TariffError(f"{where}.step_size: OCPP 2.1 bills exactly (step_size 1)")
