"""The one green accounting: energy deltas in; green energy per minute, session, park and member out (pure).

No I/O, no clock reads: readings arrive with the time they were measured, and the caller says how far
the platform's clock has gone (`close(now)`).

- **EV energy** comes from each session's energy register: every delta is spread over the minutes
  between the two readings. Power only fills in for a session whose charger reports no register (the
  power last reported is held until the next sample, at most `max_hold_s`), and the session says so
  (`source == "power"`).
- **Generation** comes from the parks' energy per minute (the solar accounting's counter deltas).
- **Green**: per minute and per pool (a cooperative: its members' parks and the chargers at its sites)
  the EVs' green energy is min(EV energy, generation); every session gets the same share of its
  energy, every park contributes in proportion to what it generated. No generation, no green.
- **Stationary batteries** (`battery()`: their charge and discharge per minute): what a battery stored from
  the pool's surplus it later gives to the pool's EVs as green, credited to the parks it came from; what
  it stored from the grid stays grey (smartgrid.storage keeps each battery's mix).
- A minute is split once it is closed: `close_after` past its end by the platform's clock (by the
  newest measurement when all measurements are far behind that clock: simulated devices). Energy
  measured in a minute already closed (meter values replayed after a reconnect) is green only from
  what that minute's generation had left;
  generation arriving for a closed minute counts as exported.

Everything that shows green energy (sessions, /api/live, the dashboard, the report, the park series,
InfluxDB) reads what this module closed; nothing else computes it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from smartgrid.split import CooperativeLedger, IntervalSplit, split_interval
from smartgrid.storage import Stock, storage_minute
from solar.accounting import MINUTE, minute_of, spread

__all__ = ["CooperativeLedger", "GreenAccounting", "IntervalSplit", "split_interval"]  # split's kept here too

SLOT = timedelta(minutes=15)  # a session's energy is kept per slot: OCPI charging periods, time-of-use prices


def slot_of(minute: datetime) -> datetime:
    return minute.replace(minute=minute.minute - minute.minute % 15, second=0, microsecond=0)


def green_share_now(solar_w: float, ev_w: float) -> float | None:
    """The share of the EVs' power the parks cover at this instant (None: no EV draws)."""
    if not ev_w > 0 or not math.isfinite(ev_w):
        return None
    return min(1.0, max(0.0, solar_w if math.isfinite(solar_w) else 0.0) / ev_w)


@dataclass(slots=True)
class _Session:
    charge_point_id: str
    pool: str
    last_ts: datetime
    last_energy_wh: float | None  # the register's last reading (None: not known)
    has_register: bool = False
    power_w: float | None = None  # as last reported (live power; and the fill-in for chargers without a register)
    power_ts: datetime | None = None
    energy_wh: float = 0.0  # accounted, closed minutes and open
    green_wh: float = 0.0  # closed minutes
    last_minute: datetime | None = None
    stopped: bool = False
    dirty: bool = False  # green changed since last taken (stopped sessions)
    slots: dict[datetime, list[float]] = field(default_factory=dict)  # closed minutes by SLOT: [energy, green]
    parks: dict[str, float] = field(default_factory=dict)  # green Wh by the park it came from

    @property
    def source(self) -> str:
        return "register" if self.has_register or self.power_ts is None else "power"


@dataclass(slots=True)
class DayTotals:
    """A pool's day: generation and green energy into EVs per park, EV energy (closed minutes)."""

    generated_wh: dict[str, float] = field(default_factory=dict)
    green_wh: dict[str, float] = field(default_factory=dict)  # per park
    ev_wh: float = 0.0

    @property
    def solar_wh(self) -> float:
        return sum(self.generated_wh.values())

    @property
    def to_evs_wh(self) -> float:
        return sum(self.green_wh.values())

    @property
    def green_share(self) -> float | None:
        return self.to_evs_wh / self.ev_wh if self.ev_wh > 0 else None

    def add(self, other: DayTotals) -> None:
        for mine, theirs in ((self.generated_wh, other.generated_wh), (self.green_wh, other.green_wh)):
            for key, wh in theirs.items():
                mine[key] = mine.get(key, 0.0) + wh
        self.ev_wh += other.ev_wh


@dataclass(frozen=True, slots=True)
class GreenMinute:
    """Green energy into EVs from one park in one minute, and the EV energy of its pool in that minute."""

    park_id: str
    minute: datetime
    green_wh: float
    ev_wh: float


class GreenAccounting:
    def __init__(
        self,
        *,
        park_pool: Mapping[str, str] | None = None,  # park -> pool (cooperative); missing: ""
        park_member: Mapping[str, str] | None = None,  # park -> member
        close_after: timedelta = timedelta(minutes=2),
        max_hold_s: float = 300.0,
        keep: timedelta = timedelta(days=2),
        follow_within: timedelta = timedelta(hours=1),
        battery_pool: Mapping[str, str] | None = None,  # stationary battery -> pool
        battery_efficiency: Mapping[str, float] | None = None,  # round trip
    ) -> None:
        self.park_pool = dict(park_pool or {})
        self.battery_pool = dict(battery_pool or {})
        self.battery_efficiency = dict(battery_efficiency or {})
        self.stocks: dict[str, Stock] = {}  # each battery's stored energy by origin (smartgrid.storage)
        self._battery: dict[datetime, dict[str, list[float]]] = {}  # open minutes: battery -> [charged, discharged]
        self.park_member = dict(park_member or {})
        self.close_after = close_after
        self.max_hold_s = max_hold_s
        self.keep = keep
        self.follow_within = follow_within
        self.sessions: dict[object, _Session] = {}
        # the slots of the sessions finished() last reported, and their green by park (taken by whoever stores them)
        self.finished_slots: dict[object, list[tuple[datetime, float, float]]] = {}
        self.finished_parks: dict[object, dict[str, float]] = {}
        self._ev: dict[datetime, dict[object, float]] = {}  # open minutes: EV energy per session
        self._generated: dict[datetime, dict[str, float]] = {}  # per minute and park (kept `keep`)
        self._green: dict[datetime, dict[str, float]] = {}  # closed minutes: green per park
        self._closed_until: datetime | None = None  # minutes before this are closed
        self._seen: datetime | None = None  # the newest measurement
        self._days: dict[tuple[str, date], DayTotals] = {}
        self._out: list[GreenMinute] = []
        self._offline: set[str] = set()

    # -- inputs ---------------------------------------------------------------------------------
    def _saw(self, ts: datetime) -> None:
        if self._seen is None or ts > self._seen:
            self._seen = ts

    def start(
        self, key: object, charge_point_id: str, ts: datetime, meter_start_wh: float | None, pool: str = ""
    ) -> None:
        if key in self.sessions:
            return
        start = meter_start_wh if meter_start_wh is not None and math.isfinite(meter_start_wh) else None
        self.sessions[key] = _Session(charge_point_id, pool, ts, start)
        self._offline.discard(charge_point_id)
        self._saw(ts)

    def meter(self, key: object, ts: datetime, energy_wh: float | None, power_w: float | None) -> float:
        """A reading of a running session (register and/or power, as measured at `ts`); returns the energy it adds."""
        session = self.sessions.get(key)
        if session is None or session.stopped:
            return 0.0
        self._offline.discard(session.charge_point_id)
        self._saw(ts)
        added = 0.0
        if energy_wh is not None and math.isfinite(energy_wh):
            if session.last_energy_wh is not None and ts > session.last_ts and energy_wh > session.last_energy_wh:
                added = self._add(key, session, session.last_ts, ts, energy_wh - session.last_energy_wh)
            if session.last_energy_wh is None or ts > session.last_ts:
                session.last_energy_wh, session.last_ts = energy_wh, ts
            session.has_register = True
        if power_w is not None and math.isfinite(power_w):
            if not session.has_register:
                added += self._hold_power(key, session, ts)
            session.power_w, session.power_ts = max(0.0, power_w), ts
        return added

    def _hold_power(self, key: object, session: _Session, ts: datetime) -> float:
        if session.power_w is None or session.power_ts is None or ts <= session.power_ts:
            return 0.0
        held_s = min((ts - session.power_ts).total_seconds(), self.max_hold_s)
        wh = session.power_w * held_s / 3600.0
        return self._add(key, session, session.power_ts, session.power_ts + timedelta(seconds=held_s), wh)

    def stop(self, key: object, ts: datetime, meter_stop_wh: float | None) -> None:
        session = self.sessions.get(key)
        if session is None or session.stopped:
            return
        self._saw(ts)
        if session.has_register or session.power_ts is None:
            last = session.last_energy_wh
            if meter_stop_wh is not None and math.isfinite(meter_stop_wh) and last is not None and meter_stop_wh > last:
                self._add(key, session, session.last_ts, max(ts, session.last_ts), meter_stop_wh - last)
        else:
            self._hold_power(key, session, ts)
        session.stopped, session.power_w, session.dirty = True, None, True

    def offline(self, charge_point_id: str) -> None:
        """The charger left: its power leaves the totals until it reports again."""
        self._offline.add(charge_point_id)

    def generation(self, minutes: Mapping[tuple[str, datetime], float]) -> None:
        """Generation per (park, minute), Wh (the solar accounting's drained minutes)."""
        for (park, at), wh in minutes.items():
            if not (wh > 0 and math.isfinite(wh)):
                continue
            minute = minute_of(at)
            per_park = self._generated.setdefault(minute, {})
            per_park[park] = per_park.get(park, 0.0) + wh
            day = self._day(self.park_pool.get(park, ""), minute)
            day.generated_wh[park] = day.generated_wh.get(park, 0.0) + wh
            self._saw(minute)

    def battery(self, minutes: Mapping[tuple[str, datetime], float]) -> None:
        """Battery energy per (`{battery}/charge` or `{battery}/discharge`, minute), Wh on the AC side. Energy for
        a minute already closed counts in the first open one."""
        for (key, at), wh in minutes.items():
            battery_id, _, way = key.rpartition("/")
            if not (wh > 0 and math.isfinite(wh)) or way not in ("charge", "discharge"):
                continue
            minute = minute_of(at)
            if self._closed_until is not None and minute < self._closed_until:
                minute = self._closed_until
            pair = self._battery.setdefault(minute, {}).setdefault(battery_id, [0.0, 0.0])
            pair[0 if way == "charge" else 1] += wh

    def stock_rows(self) -> dict[str, dict[str, float]]:
        """Each battery's stock to store: park -> green Wh, "" -> grey Wh."""
        return {b: {**stock.green_wh, "": stock.grey_wh} for b, stock in self.stocks.items()}

    def restore_stocks(self, rows: Mapping[str, Mapping[str, float]]) -> None:
        """The stocks as stored (after a restart), before anything new is closed."""
        for battery_id, parts in rows.items():
            green = {park: wh for park, wh in parts.items() if park and wh > 0}
            self.stocks[battery_id] = Stock(green, max(0.0, parts.get("", 0.0)))

    def battery_green_share(self, battery_id: str) -> float:
        """The share of a battery's stored energy (as the accounting knows it) that came from the sun."""
        stock = self.stocks.get(battery_id)
        return stock.green_share if stock is not None else 0.0

    def retract_generation(self, minutes: Mapping[tuple[str, datetime], float]) -> None:
        """Take back generation handed in before (an instance that follows another's stored baselines
        counts again from them); never below nothing."""
        for (park, at), wh in minutes.items():
            minute = minute_of(at)
            per_park = self._generated.get(minute)
            if per_park is not None and park in per_park:
                per_park[park] = max(0.0, per_park[park] - wh)
            day = self._days.get((self.park_pool.get(park, ""), minute.date()))
            if day is not None and park in day.generated_wh:
                day.generated_wh[park] = max(0.0, day.generated_wh[park] - wh)

    def _add(self, key: object, session: _Session, start: datetime, end: datetime, wh: float) -> float:
        for minute, part in spread(start, end, wh):
            session.energy_wh += part
            if session.last_minute is None or minute > session.last_minute:
                session.last_minute = minute
            if self._closed_until is not None and minute < self._closed_until:
                self._late(key, session, minute, part)
            else:
                per_session = self._ev.setdefault(minute, {})
                per_session[key] = per_session.get(key, 0.0) + part
        return wh

    def _day(self, pool: str, minute: datetime) -> DayTotals:
        totals = self._days.get((pool, minute.date()))
        if totals is None:
            totals = self._days[(pool, minute.date())] = DayTotals()
        return totals

    # -- closing ----------------------------------------------------------------------------------
    def close(self, now: datetime, *, final: bool = False) -> list[GreenMinute]:
        """Split the minutes that are over; returns the green per park and minute added since the last call."""
        # Measurements near the platform's clock: the clock says what is over. Far behind it (a scenario's
        # simulated devices against a platform on the wall clock): the newest measurement does.
        watermark = now if self._seen is None or self._seen >= now - self.follow_within else self._seen
        until = minute_of(watermark - self.close_after)
        if final:  # everything measured so far
            until = max([until, *(m + MINUTE for m in self._ev)])
        if self._closed_until is None or until > self._closed_until:
            for minute in sorted(m for m in {*self._ev, *self._battery} if m < until):
                self._split(minute, self._ev.pop(minute, {}), self._battery.pop(minute, {}))
            self._closed_until = until
        for minute in [
            m for m in self._generated if self._closed_until is not None and m < self._closed_until - self.keep
        ]:
            self._generated.pop(minute, None)
            self._green.pop(minute, None)
        out, self._out = self._out, []
        return out

    def _split(
        self, minute: datetime, per_session: Mapping[object, float], batteries: Mapping[str, list[float]]
    ) -> None:
        pools: dict[str, dict[object, float]] = {}
        for key, wh in per_session.items():
            pools.setdefault(self.sessions[key].pool, {})[key] = wh
        by_pool: dict[str, dict[str, tuple[float, float]]] = {}
        for battery_id, (charged, discharged) in batteries.items():
            by_pool.setdefault(self.battery_pool.get(battery_id, ""), {})[battery_id] = (charged, discharged)
        for pool in sorted({*pools, *by_pool}):
            sessions = pools.get(pool, {})
            parks = {p: wh for p, wh in self._generated.get(minute, {}).items() if self.park_pool.get(p, "") == pool}
            split = split_interval(sessions, parks, self.park_member)
            green, park_wh = split.green_wh, split.park_wh
            if pool in by_pool:  # the pool's batteries: surplus stored, stored green given to the EVs
                surplus = {p: wh - split.park_wh.get(p, 0.0) for p, wh in parks.items()}
                stored = storage_minute(
                    self.stocks, self.battery_efficiency, by_pool[pool], surplus, sum(split.grid_wh.values())
                )
                grid_wh = sum(split.grid_wh.values())
                share = stored.to_evs_wh / grid_wh if grid_wh > 0 else 0.0
                green = {key: wh + split.grid_wh[key] * share for key, wh in green.items()}
                park_wh = dict(park_wh)
                for park, wh in stored.ev_green_wh.items():
                    park_wh[park] = park_wh.get(park, 0.0) + wh
            if sessions or any(wh > 0 for wh in park_wh.values()):
                self._credit(pool, minute, green, park_wh, sum(sessions.values()), sessions)

    def _late(self, key: object, session: _Session, minute: datetime, wh: float) -> None:
        """Energy for a closed minute: green only from what its generation had left."""
        pool = session.pool
        green = self._green.get(minute, {})
        left = {
            p: max(0.0, g - green.get(p, 0.0))
            for p, g in self._generated.get(minute, {}).items()
            if self.park_pool.get(p, "") == pool
        }
        split = split_interval({key: wh}, left, self.park_member)
        self._credit(pool, minute, split.green_wh, split.park_wh, wh, {key: wh})

    def _credit(
        self,
        pool: str,
        minute: datetime,
        sessions: Mapping[object, float],
        parks: Mapping[str, float],
        ev_wh: float,
        energy: Mapping[object, float],
    ) -> None:
        """`sessions`: green per session; `energy`: all of each session's energy in the minute."""
        slot = slot_of(minute)
        for key, wh in energy.items():
            self.sessions[key].slots.setdefault(slot, [0.0, 0.0])[0] += wh
        green_in_all = sum(parks.values())
        for key, wh in sessions.items():
            session = self.sessions[key]
            session.green_wh += wh
            session.slots.setdefault(slot, [0.0, 0.0])[1] += wh
            session.dirty = True
            if wh > 0 and green_in_all > 0:  # every session's green comes from the parks in their proportion
                for park, park_wh in parks.items():
                    if park_wh > 0:
                        session.parks[park] = session.parks.get(park, 0.0) + wh * park_wh / green_in_all
        green = self._green.setdefault(minute, {})
        day = self._day(pool, minute)
        day.ev_wh += ev_wh
        for park, wh in parks.items():
            green[park] = green.get(park, 0.0) + wh
            day.green_wh[park] = day.green_wh.get(park, 0.0) + wh
            if wh > 0:
                self._out.append(GreenMinute(park, minute, wh, ev_wh))

    # -- reading -----------------------------------------------------------------------------------
    @property
    def live(self) -> dict[object, _Session]:
        """The running sessions."""
        return {key: s for key, s in self.sessions.items() if not s.stopped}

    def session_green_wh(self, key: object) -> float | None:
        session = self.sessions.get(key)
        return session.green_wh if session else None

    def session_slots(self, key: object) -> list[tuple[datetime, float, float]] | None:
        """A session's closed minutes by SLOT: (slot start, energy Wh, green Wh), in time order (what a tariff
        prices by time of use and a charge detail record lists as its charging periods)."""
        session = self.sessions.get(key)
        if session is None:
            return None
        return [(slot, wh, green) for slot, (wh, green) in sorted(session.slots.items())]

    def session_parks(self, key: object) -> dict[str, float] | None:
        """A session's green energy by the park it came from (closed minutes; sums to its green energy)."""
        session = self.sessions.get(key)
        return dict(session.parks) if session else None

    def may_turn_green(self, key: object) -> bool:
        """Whether energy of this session that is not split yet may still be found green: its pool has parks,
        or generation of its pool in the minutes still open. False for a session the accounting forgot."""
        session = self.sessions.get(key)
        if session is None:
            return False
        if session.pool in set(self.park_pool.values()):
            return True
        return any(
            self.park_pool.get(park, "") == session.pool
            for minute, parks in self._generated.items()
            if self._closed_until is None or minute >= self._closed_until
            for park in parks
        )

    def session_energy_wh(self, key: object) -> float | None:
        session = self.sessions.get(key)
        return session.energy_wh if session else None

    def session_source(self, key: object) -> str | None:
        session = self.sessions.get(key)
        return session.source if session else None

    def finished(self) -> dict[object, float]:
        """Stopped sessions whose minutes are all closed (green changed since last asked): key -> green Wh.
        They are forgotten once their minutes are older than `keep`."""
        out = {}
        for key, session in list(self.sessions.items()):
            if not session.stopped or self._closed_until is None:
                continue
            if session.last_minute is not None and session.last_minute >= self._closed_until:
                continue
            if session.dirty:
                out[key], session.dirty = session.green_wh, False
                self.finished_slots[key] = [(slot, wh, green) for slot, (wh, green) in sorted(session.slots.items())]
                self.finished_parks[key] = dict(session.parks)
            if session.last_minute is None or session.last_minute < self._closed_until - self.keep:
                del self.sessions[key]
        return out

    def ev_power_w(self, charge_point_ids: Collection[str] | None = None) -> float:
        """The power the running sessions draw now (of these chargers; offline chargers count nothing)."""
        return sum(
            s.power_w
            for s in self.sessions.values()
            if s.power_w is not None
            and not s.stopped
            and s.charge_point_id not in self._offline
            and (charge_point_ids is None or s.charge_point_id in charge_point_ids)
        )

    def day(self, on: date, pools: Iterable[str] | None = None) -> DayTotals:
        """One day's totals of these pools (None: all)."""
        wanted = None if pools is None else set(pools)
        total = DayTotals()
        for (pool, day), totals in self._days.items():
            if day == on and (wanted is None or pool in wanted):
                total.add(totals)
        return total

    def seed_day(
        self, on: date, pool: str, generated: Mapping[str, float], green: Mapping[str, float], ev_wh: float
    ) -> None:
        """Today's totals as stored (after a restart), before anything new is added."""
        totals = self._days.setdefault((pool, on), DayTotals())
        totals.add(DayTotals(dict(generated), dict(green), ev_wh))
