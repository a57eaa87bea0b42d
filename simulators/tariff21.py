"""What a simulated OCPP 2.1 station charges, by the tariff it was given: pure, no I/O, time passed in.

The station keeps the default tariffs the central system sets (SetDefaultTariff, per EVSE; EVSE 0 for all)
and a tariff per transaction (ChangeTransactionTariff), and prices each transaction itself (local cost
calculation), reported in `TransactionEvent(Ended).costDetails`:

- a transaction is cut into periods at its meter values; a period with energy is charging time, one without
  is idle time; each period is priced at the tariff in force at its start (a tariff changed mid-way prices
  the periods after the change) and, within a dimension, at the first price whose conditions hold then;
- the fixed fee is the first fixed price whose conditions hold at the start, of the tariff in force then;
- conditions understood: `startTimeOfDay`/`endTimeOfDay` (may wrap midnight; "00:00" ends the day),
  `dayOfWeek`, `validFromDate`/`validToDate`, `minTime`/`maxTime` (seconds since the transaction started);
  a tariff with any other condition is refused `ConditionNotSupported`. Times of day are the station's local
  time, which for the simulator is UTC;
- tax: each dimension's `taxRates` (stack 0 on the net price, stack 1 on top of it, ...);
- amounts rounded half-up to the cent per dimension; the total is their sum. Energy volumes are Wh, times
  seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
UNDERSTOOD = frozenset(
    {"startTimeOfDay", "endTimeOfDay", "dayOfWeek", "validFromDate", "validToDate", "minTime", "maxTime"}
)
DIMENSIONS = ("energy", "chargingTime", "idleTime", "fixedFee")
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Period:
    """A stretch of a transaction from `start` to the next period's start (the last: to its end)."""

    start: datetime
    energy_wh: float  # taken in this period
    tariff: Mapping[str, Any] | None  # the OCPP 2.1 TariffType in force at its start


def unsupported_condition(tariff: Mapping[str, Any]) -> str | None:
    """The first condition this station cannot evaluate, or None."""
    for dimension in DIMENSIONS:
        for price in (tariff.get(dimension) or {}).get("prices", []):
            for name in price.get("conditions") or {}:
                if name not in UNDERSTOOD and name != "customData":
                    return f"{dimension}.{name}"
    for dimension in ("reservationTime", "reservationFixed", "minCost", "maxCost"):
        if dimension in tariff:
            return dimension
    return None


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def holds(conditions: Mapping[str, Any] | None, at: datetime, since_start_s: float) -> bool:
    """Whether a price's conditions hold at `at` (UTC: the station's local time), `since_start_s` into the
    transaction."""
    if not conditions:
        return True
    local = at.astimezone(UTC)
    days = conditions.get("dayOfWeek")
    if days and DAYS[local.weekday()] not in days:
        return False
    if "validFromDate" in conditions and local.date() < date.fromisoformat(conditions["validFromDate"]):
        return False
    if "validToDate" in conditions and local.date() >= date.fromisoformat(conditions["validToDate"]):
        return False
    if "startTimeOfDay" in conditions or "endTimeOfDay" in conditions:
        start = _clock(conditions.get("startTimeOfDay", "00:00"))
        end = _clock(conditions.get("endTimeOfDay", "00:00"))
        now = local.time()
        inside = start <= now < end if start < end else (now >= start or now < end)
        if not inside:
            return False
    if "minTime" in conditions and since_start_s < conditions["minTime"]:
        return False
    return not ("maxTime" in conditions and since_start_s >= conditions["maxTime"])


def _price(tariff: Mapping[str, Any] | None, dimension: str, key: str, at: datetime, since_s: float) -> Decimal:
    for price in ((tariff or {}).get(dimension) or {}).get("prices", []):
        if holds(price.get("conditions"), at, since_s):
            return Decimal(repr(price[key]))
    return Decimal(0)


def _with_tax(net: Decimal, rates: Sequence[Mapping[str, Any]]) -> Decimal:
    """The amount with the dimension's taxes: each stack level taxes the amount the levels below made."""
    amount = net
    for stack in sorted({int(r.get("stack", 0)) for r in rates}):
        base = amount
        amount += sum((base * Decimal(repr(r["tax"])) / 100 for r in rates if int(r.get("stack", 0)) == stack),
                      Decimal(0))  # fmt: skip
    return amount


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _number(amount: Decimal) -> float | int:
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def cost_details(periods: Sequence[Period], started: datetime, ended: datetime, currency: str) -> dict[str, Any]:
    """OCPP 2.1 CostDetailsType (camelCase, as on the wire) of a transaction from `started` to `ended`."""
    net = {d: Decimal(0) for d in DIMENSIONS}
    gross = {d: Decimal(0) for d in DIMENSIONS}
    charging_s = idle_s = 0.0
    energy_wh = 0.0
    charging_periods = []
    ends = [p.start for p in periods[1:]] + [ended]
    for period, until in zip(periods, ends, strict=True):
        seconds = max(0.0, (until - period.start).total_seconds())
        since = (period.start - started).total_seconds()
        charging = period.energy_wh > 0
        energy_wh += max(period.energy_wh, 0.0)
        dimension = "chargingTime" if charging else "idleTime"
        charging_s, idle_s = (charging_s + seconds, idle_s) if charging else (charging_s, idle_s + seconds)
        tariff = period.tariff or {}
        energy = _price(tariff, "energy", "priceKwh", period.start, since) * Decimal(repr(max(period.energy_wh, 0)))
        energy /= 1000
        minutes = _price(tariff, dimension, "priceMinute", period.start, since) * Decimal(repr(seconds)) / 60
        for name, amount in (("energy", energy), (dimension, minutes)):
            net[name] += amount
            gross[name] += _with_tax(amount, (tariff.get(name) or {}).get("taxRates", []))
        entry: dict[str, Any] = {
            "startPeriod": _iso(period.start),
            "dimensions": [
                {"type": "Energy", "volume": round(max(period.energy_wh, 0.0), 3)},
                {"type": "ChargingTime" if charging else "IdleTIme", "volume": round(seconds, 3)},
            ],
        }
        if tariff.get("tariffId"):
            entry["tariffId"] = tariff["tariffId"]
        charging_periods.append(entry)
    first = periods[0].tariff if periods else None
    fixed = _price(first, "fixedFee", "priceFixed", started, 0.0)
    net["fixedFee"] += fixed
    gross["fixedFee"] += _with_tax(fixed, ((first or {}).get("fixedFee") or {}).get("taxRates", []))
    total: dict[str, Any] = {"currency": currency, "typeOfCost": "NormalCost"}
    for name, key in (("fixedFee", "fixed"), ("energy", "energy"), ("chargingTime", "chargingTime"),
                      ("idleTime", "idleTime")):  # fmt: skip
        if net[name] or gross[name]:
            total[key] = {"exclTax": _number(_cents(net[name])), "inclTax": _number(_cents(gross[name]))}
    total["total"] = {
        "exclTax": _number(sum((_cents(v) for v in net.values()), Decimal(0))),
        "inclTax": _number(sum((_cents(v) for v in gross.values()), Decimal(0))),
    }
    details: dict[str, Any] = {
        "totalCost": total,
        "totalUsage": {  # chargingTime: the whole transaction, charging or not, as 2.1 defines it
            "energy": round(energy_wh, 3),
            "chargingTime": round(charging_s + idle_s),
            "idleTime": round(idle_s),
        },
    }
    if charging_periods:
        details["chargingPeriods"] = charging_periods
    return details


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
