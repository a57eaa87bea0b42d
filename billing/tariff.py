"""Tariffs in the OCPI 2.2.1 model (module Tariffs: Tariff, TariffElement, PriceComponent, TariffRestrictions)
and the one place a session's cost is computed.

A tariff is a list of elements; each has price components (ENERGY per kWh, FLAT per session, TIME per hour
charging, PARKING_TIME per hour not charging) and optional restrictions. As OCPI says, for each dimension the
first element whose restrictions hold and that has a component of that dimension is the one that applies.
Restrictions understood here: `start_time`/`end_time` ("HH:MM", local to the tariff's site, may wrap
midnight), `day_of_week`, `min_duration`/`max_duration` (seconds since the session started, for the idle fee
after a grace period). Energy is priced per interval, each at the element that holds at its start (time of
use). One extension, named as OCPI asks for extensions: a price component may carry `green_price`, the price
per kWh of the energy that the cooperative's green accounting found green (the grid price otherwise);
exported to OCPI partners, only `price` is shown.

Amounts are Decimal, excluding VAT; totals rounded half-up to the cent at the end, once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

Dimension = Literal["ENERGY", "FLAT", "TIME", "PARKING_TIME"]
DIMENSIONS: tuple[Dimension, ...] = ("ENERGY", "FLAT", "TIME", "PARKING_TIME")
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
CENT = Decimal("0.01")


class TariffError(ValueError):
    """A tariff that is not one; the message names the field."""


@dataclass(frozen=True, slots=True)
class PriceComponent:
    type: Dimension
    price: Decimal  # per kWh (ENERGY), per session (FLAT), per hour (TIME, PARKING_TIME); excl. VAT
    step_size: int = 1  # Wh for ENERGY, seconds for TIME and PARKING_TIME (billed in whole steps, per OCPI)
    vat: Decimal | None = None  # percent
    green_price: Decimal | None = None  # CoopGrid extension: per green kWh


@dataclass(frozen=True, slots=True)
class Restrictions:
    start_time: time | None = None
    end_time: time | None = None
    day_of_week: frozenset[str] = frozenset()
    min_duration_s: float | None = None
    max_duration_s: float | None = None

    def hold(self, at: datetime, since_start_s: float) -> bool:
        if self.day_of_week and DAYS[at.weekday()] not in self.day_of_week:
            return False
        if self.start_time is not None or self.end_time is not None:
            start, end, now = self.start_time or time(0), self.end_time or time(0), at.time()
            inside = start <= now < end if start < end else (now >= start or now < end)
            if not inside:
                return False
        if self.min_duration_s is not None and since_start_s < self.min_duration_s:
            return False
        return not (self.max_duration_s is not None and since_start_s >= self.max_duration_s)


@dataclass(frozen=True, slots=True)
class TariffElement:
    price_components: tuple[PriceComponent, ...]
    restrictions: Restrictions = field(default_factory=Restrictions)


@dataclass(frozen=True, slots=True)
class Tariff:
    id: str
    currency: str
    elements: tuple[TariffElement, ...]
    timezone: str = "UTC"  # where time-of-use restrictions are read (the site's)

    def component(self, dimension: Dimension, at: datetime, since_start_s: float) -> PriceComponent | None:
        local = at.astimezone(self.zone)
        for element in self.elements:
            if not element.restrictions.hold(local, since_start_s):
                continue
            for component in element.price_components:
                if component.type == dimension:
                    return component
        return None

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class Interval:
    """Energy a session took over [start, start + seconds): in all, and of it green."""

    start: datetime
    seconds: float
    energy_wh: float
    green_wh: float = 0.0


@dataclass(frozen=True, slots=True)
class Cost:
    currency: str
    energy: Decimal
    green_energy: Decimal  # part of `energy`: what the green kWh cost
    flat: Decimal
    time: Decimal
    parking: Decimal
    vat: Decimal

    @property
    def excl_vat(self) -> Decimal:
        return self.energy + self.flat + self.time + self.parking

    @property
    def incl_vat(self) -> Decimal:
        return self.excl_vat + self.vat

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "energy": str(self.energy),
            "green_energy": str(self.green_energy),
            "flat": str(self.flat),
            "time": str(self.time),
            "parking": str(self.parking),
            "excl_vat": str(self.excl_vat),
            "vat": str(self.vat),
            "incl_vat": str(self.incl_vat),
        }


def _steps(amount: float, step: int) -> float:
    """OCPI step_size: billed in whole steps, rounded up."""
    if step <= 1 or amount <= 0:
        return max(amount, 0.0)
    whole = -(-amount // step)
    return float(whole * step)


def session_cost(
    tariff: Tariff,
    started: datetime,
    stopped: datetime,
    intervals: Sequence[Interval],
    *,
    charging_ended: datetime | None = None,
) -> Cost:
    """The cost of one session: its energy interval by interval (time of use, green or grid), one FLAT fee
    (the element that holds at the start), TIME while energy flows, PARKING_TIME from `charging_ended` (the
    end of the last interval with energy, by default) until it stops, at the elements that hold then."""
    parts: dict[str, Decimal] = {k: Decimal(0) for k in ("energy", "green", "flat", "time", "parking", "vat")}

    def add(part: str, component: PriceComponent, amount: Decimal) -> None:
        parts[part] += amount
        if component.vat is not None:
            parts["vat"] += amount * component.vat / 100

    energy_wh: dict[PriceComponent, list[float]] = {}
    for interval in intervals:
        since = (interval.start - started).total_seconds()
        component = tariff.component("ENERGY", interval.start, since)
        if component is not None and interval.energy_wh > 0:
            green = min(max(interval.green_wh, 0.0), interval.energy_wh)
            sums = energy_wh.setdefault(component, [0.0, 0.0])
            sums[0] += interval.energy_wh - green
            sums[1] += green
        time_component = tariff.component("TIME", interval.start, since)
        if time_component is not None and interval.energy_wh > 0:
            add("time", time_component, time_component.price * Decimal(repr(interval.seconds)) / 3600)
    for component, (grid_wh, green_wh) in energy_wh.items():
        grid_kwh = Decimal(repr(_steps(grid_wh, component.step_size))) / 1000
        green_kwh = Decimal(repr(_steps(green_wh, component.step_size))) / 1000
        green_price = component.green_price if component.green_price is not None else component.price
        add("energy", component, grid_kwh * component.price + green_kwh * green_price)
        parts["green"] += green_kwh * green_price
    flat = tariff.component("FLAT", started, 0.0)
    if flat is not None:
        add("flat", flat, flat.price)
    if charging_ended is None:
        flowing = [i for i in intervals if i.energy_wh > 0]
        charging_ended = max((i.start + timedelta(seconds=i.seconds) for i in flowing), default=started)
    _parking(tariff, started, max(charging_ended, started), stopped, add)
    return Cost(
        currency=tariff.currency,
        energy=_cents(parts["energy"]),
        green_energy=_cents(parts["green"]),
        flat=_cents(parts["flat"]),
        time=_cents(parts["time"]),
        parking=_cents(parts["parking"]),
        vat=_cents(parts["vat"]),
    )


def _parking(tariff: Tariff, started: datetime, begin: datetime, end: datetime, add: Any) -> None:
    """PARKING_TIME in one-minute slices, each at the element that holds at its start (grace periods are
    elements with min_duration)."""
    if not any(c.type == "PARKING_TIME" for element in tariff.elements for c in element.price_components):
        return  # nothing to bill: no walk over the parked time minute by minute
    slice_s = 60.0
    billed: dict[PriceComponent, float] = {}
    at = begin
    while at < end:
        seconds = min(slice_s, (end - at).total_seconds())
        component = tariff.component("PARKING_TIME", at, (at - started).total_seconds())
        if component is not None:
            billed[component] = billed.get(component, 0.0) + seconds
        at += timedelta(seconds=seconds)
    for component, seconds in billed.items():
        add("parking", component, component.price * Decimal(repr(_steps(seconds, component.step_size))) / 3600)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


# -- reading the OCPI JSON --------------------------------------------------------------------------------
def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TariffError(f"{where}: expected a number")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise TariffError(f"{where}: expected a number") from None
    if not number.is_finite() or number < 0:
        raise TariffError(f"{where}: expected a number >= 0")
    return number


def _time(value: Any, where: str) -> time:
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise TariffError(f"{where}: expected HH:MM") from None


def parse_tariff(data: Mapping[str, Any], *, timezone: str = "UTC") -> Tariff:
    """An OCPI 2.2.1 Tariff object (the fields used here; others are kept by the caller, not checked)."""
    if not isinstance(data, Mapping):
        raise TariffError("tariff: expected an object")
    tariff_id = data.get("id")
    if not isinstance(tariff_id, str) or not 0 < len(tariff_id) <= 36:
        raise TariffError("id: 1 to 36 characters")
    currency = data.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise TariffError("currency: an ISO 4217 code of three letters")
    raw_elements = data.get("elements")
    if not isinstance(raw_elements, list) or not raw_elements:
        raise TariffError("elements: at least one element")
    elements = []
    for e, raw in enumerate(raw_elements):
        where = f"elements.{e}"
        if not isinstance(raw, Mapping):
            raise TariffError(f"{where}: expected an object")
        components = raw.get("price_components")
        if not isinstance(components, list) or not components:
            raise TariffError(f"{where}.price_components: at least one")
        parsed = []
        for c, component in enumerate(components):
            at = f"{where}.price_components.{c}"
            if not isinstance(component, Mapping):
                raise TariffError(f"{at}: expected an object")
            kind = component.get("type")
            if kind not in DIMENSIONS:
                raise TariffError(f"{at}.type: one of {', '.join(DIMENSIONS)}")
            step = component.get("step_size", 1)
            if isinstance(step, bool) or not isinstance(step, int) or step < 1:
                raise TariffError(f"{at}.step_size: an integer >= 1")
            vat = component.get("vat")
            green = component.get("green_price")
            parsed.append(
                PriceComponent(
                    kind,
                    _decimal(component.get("price"), f"{at}.price"),
                    step,
                    None if vat is None else _decimal(vat, f"{at}.vat"),
                    None if green is None else _decimal(green, f"{at}.green_price"),
                )
            )
        elements.append(TariffElement(tuple(parsed), _restrictions(raw.get("restrictions"), f"{where}.restrictions")))
    try:
        ZoneInfo(timezone)
    except (KeyError, ValueError):
        raise TariffError(f"timezone: unknown time zone {timezone!r}") from None
    return Tariff(tariff_id, currency.upper(), tuple(elements), timezone)


def _restrictions(raw: Any, where: str) -> Restrictions:
    if raw is None:
        return Restrictions()
    if not isinstance(raw, Mapping):
        raise TariffError(f"{where}: expected an object")
    days = raw.get("day_of_week") or []
    if not isinstance(days, list) or any(d not in DAYS for d in days):
        raise TariffError(f"{where}.day_of_week: days among {', '.join(DAYS)}")

    def seconds(key: str) -> float | None:
        value = raw.get(key)
        return None if value is None else float(_decimal(value, f"{where}.{key}"))

    return Restrictions(
        start_time=None if raw.get("start_time") is None else _time(raw["start_time"], f"{where}.start_time"),
        end_time=None if raw.get("end_time") is None else _time(raw["end_time"], f"{where}.end_time"),
        day_of_week=frozenset(days),
        min_duration_s=seconds("min_duration"),
        max_duration_s=seconds("max_duration"),
    )


@dataclass(frozen=True, slots=True)
class TariffChoice:
    """Where a stored tariff applies: a cooperative's sites (or one site), for members, guests or all."""

    id: str
    cooperative_id: str | None
    site_id: str | None
    audience: str  # member | guest | all


def choose_tariff(
    tariffs: Sequence[TariffChoice], cooperative_id: str | None, site_id: str | None, kind: str
) -> str | None:
    """The tariff a session is priced at: the site's own before its cooperative's before an installation-wide
    one; for the account's kind before one for all. A session without an account is a guest's."""

    def rank(t: TariffChoice) -> tuple[int, int] | None:
        if t.audience not in (kind, "all"):
            return None
        if t.site_id is not None:
            place = 0 if t.site_id == site_id else None
        elif t.cooperative_id is not None:
            place = 1 if t.cooperative_id == cooperative_id else None
        else:
            place = 2
        return None if place is None else (place, 0 if t.audience == kind else 1)

    ranked = sorted((r, t.id) for t in tariffs if (r := rank(t)) is not None)
    return ranked[0][1] if ranked else None
