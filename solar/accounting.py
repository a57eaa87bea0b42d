"""Exact energy accounting per inverter in one-minute intervals (pure: samples and times are handed in).

Each inverter's energy comes from its lifetime counter when it has one, from
integrating its power otherwise:

- **counter**: each new reading adds `reading - previous`, spread over the
  minutes between the two readings in proportion to their overlap (a gap of
  ten minutes puts a tenth in each). A reading below the previous one is a
  counter reset (a firmware update, a replaced meter) or a rollover: the
  counter started again from zero, so the reading itself is the energy since;
  unless it is less than 10 % below: then it is a glitch (readings without a
  time of their own, stamped on receipt by different instances, can cross on
  their way; some meters jitter) that adds nothing, and the previous reading
  stays the baseline. A reading not newer than the previous one (a duplicate,
  or out of order) adds nothing: the counter already covers it.
- **power**: the power last reported is held until the next sample, for at
  most `max_hold_s` (longer silence counts nothing: the inverter may be off).

`drain()` hands out the minutes accumulated since the last drain, to be added
to what is stored (`wh = wh + new`), and `baselines()` the readings that the
next delta starts from: storing both in one transaction and `restore()`-ing the
baselines after a restart keeps the intervals exact across restarts.

Several instances see the same telemetry and one of them stores it. Each keeps
a short journal of the readings it took since the baselines last stored (by
itself: `trim()`, or by another: `follow()`). `follow()` starts again from the
stored baselines and replays the journal, so that what is pending then is
exactly what the writer has not stored yet: an instance taking over the
writing adds that, neither less nor twice.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

MINUTE = timedelta(minutes=1)
JOURNAL_PER_KEY = 10_000  # readings kept per inverter until stored; beyond, the oldest go (their energy is spread)
BUCKETS = {"minute": 60, "15min": 900, "hour": 3600, "day": 86_400}
GLITCH_SHARE = 0.1  # a counter falling back by less than this share of its value was not reset


def counter_delta(previous: float, reading: float) -> float | None:
    """The energy a lifetime counter reading adds to the previous one: the rise; after a reset or rollover the
    reading itself; None for a glitch (less than GLITCH_SHARE below the previous), which adds nothing and
    leaves the previous reading the baseline."""
    if reading >= previous:
        return reading - previous
    if previous - reading < GLITCH_SHARE * previous:
        return None
    return reading


def minute_of(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(second=0, microsecond=0)


def spread(start: datetime, end: datetime, wh: float) -> Iterator[tuple[datetime, float]]:
    """`wh` over the minutes of [start, end), in proportion to each minute's overlap."""
    if wh == 0:
        return
    total_s = (end - start).total_seconds()
    if total_s <= 0:
        yield minute_of(end), wh
        return
    minute = minute_of(start)
    while minute < end:
        following = minute + MINUTE
        overlap = (min(following, end) - max(minute, start)).total_seconds()
        if overlap > 0:
            yield minute, wh * overlap / total_s
        minute = following


@dataclass(slots=True)
class Baseline:
    ts: datetime
    energy_wh: float | None = None  # the last counter reading (None: power only)
    power_w: float | None = None


@dataclass(slots=True)
class EnergyMinutes:
    """One-minute energy intervals per key (an inverter), from counters or power."""

    max_hold_s: float = 300.0
    counter_resets: int = 0
    ignored: int = 0  # readings not newer than the previous one
    _base: dict[str, Baseline] = field(default_factory=dict)
    _pending: dict[tuple[str, datetime], float] = field(default_factory=dict)
    _counted: set[str] = field(default_factory=set)  # keys that have a counter: power is not integrated
    _journal: dict[str, deque[tuple[datetime, bool, float]]] = field(default_factory=dict)  # (ts, counter?, value)

    def _note(self, key: str, ts: datetime, is_counter: bool, value: float) -> None:
        readings = self._journal.get(key)
        if readings is None:
            readings = self._journal[key] = deque(maxlen=JOURNAL_PER_KEY)
        readings.append((ts, is_counter, value))

    def _add(self, key: str, start: datetime, end: datetime, wh: float) -> None:
        for minute, part in spread(start, end, wh):
            slot = (key, minute)
            self._pending[slot] = self._pending.get(slot, 0.0) + part

    def counter(self, key: str, ts: datetime, energy_wh: float) -> float:
        """A lifetime counter reading; returns the energy it adds (Wh)."""
        if not math.isfinite(energy_wh) or energy_wh < 0:
            raise ValueError(f"{key}: counter reading {energy_wh!r} is not a finite, non-negative number")
        self._counted.add(key)
        base = self._base.get(key)
        if base is not None and base.energy_wh is not None and ts <= base.ts:
            self.ignored += 1
            return 0.0
        self._note(key, ts, True, energy_wh)
        if base is None or base.energy_wh is None:
            self._base[key] = Baseline(ts, energy_wh)
            return 0.0
        delta = counter_delta(base.energy_wh, energy_wh)
        if delta is None:
            self.ignored += 1
            return 0.0
        if energy_wh < base.energy_wh:
            self.counter_resets += 1
        self._add(key, base.ts, ts, delta)
        base.ts, base.energy_wh = ts, energy_wh
        return delta

    def power(self, key: str, ts: datetime, power_w: float) -> float:
        """A power sample of an inverter without a counter; returns the energy it closes (Wh)."""
        if key in self._counted:
            return 0.0
        base = self._base.get(key)
        if base is not None and ts <= base.ts:
            self.ignored += 1
            return 0.0
        self._note(key, ts, False, power_w)
        added = 0.0
        if base is not None and base.power_w is not None:
            held_s = min((ts - base.ts).total_seconds(), self.max_hold_s)
            added = max(0.0, base.power_w) * held_s / 3600.0
            self._add(key, base.ts, base.ts + timedelta(seconds=held_s), added)
        self._base[key] = Baseline(ts, None, power_w)
        return added

    def drain(self) -> dict[tuple[str, datetime], float]:
        """The minutes accumulated since the last drain (to be added to what is stored)."""
        out, self._pending = self._pending, {}
        return out

    def baselines(self) -> dict[str, Baseline]:
        return {key: Baseline(b.ts, b.energy_wh, b.power_w) for key, b in self._base.items()}

    def restore(self, baselines: dict[str, Baseline], *, replace: bool = False) -> None:
        """After a restart: continue from the readings stored with the last drain.

        `replace` forgets every other reading too (an instance taking over the writing from another).
        """
        if replace:
            self._base.clear()
            self._counted.clear()
            self._pending.clear()
            self._journal = {}  # a new one: follow() replays the old
        for key, base in baselines.items():
            self._base[key] = Baseline(base.ts, base.energy_wh, base.power_w)
            if base.energy_wh is not None:
                self._counted.add(key)

    def trim(self, stored: dict[str, Baseline]) -> None:
        """The baselines just stored: the readings up to them are in the stored minutes, forget them."""
        for key, base in stored.items():
            readings = self._journal.get(key)
            while readings and readings[0][0] <= base.ts:
                readings.popleft()
            if readings is not None and not readings:
                del self._journal[key]

    def follow(self, stored: dict[str, Baseline]) -> None:
        """Another instance stored these baselines: start again from them and replay the later readings.

        What is pending afterwards is what that instance has not stored yet; the journal keeps the readings
        after `stored` only. Call it before a `drain()` (what was drained before is superseded).
        """
        journal, resets, ignored = self._journal, self.counter_resets, self.ignored
        self.restore(stored, replace=True)
        for key, readings in journal.items():
            base = stored.get(key)
            for ts, is_counter, value in readings:
                if base is not None and ts <= base.ts:
                    continue
                if is_counter:
                    self.counter(key, ts, value)
                else:
                    self.power(key, ts, value)
        self.counter_resets, self.ignored = resets, ignored  # counted when first seen


def rollup(rows: Iterable[tuple[datetime, float]], bucket: str) -> list[tuple[datetime, float]]:
    """Sum (minute, Wh) rows into buckets: minute, 15min, hour, day (UTC) or month."""
    sums: dict[datetime, float] = {}
    for stamp, wh in rows:
        minute = stamp.astimezone(UTC)
        if bucket == "month":
            start = minute.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        elif bucket in BUCKETS:
            size = BUCKETS[bucket]
            epoch = int(minute.timestamp()) // size * size
            start = datetime.fromtimestamp(epoch, UTC)
        else:
            raise ValueError(f"unknown bucket {bucket!r}; one of {[*BUCKETS, 'month']}")
        sums[start] = sums.get(start, 0.0) + wh
    return sorted(sums.items())


__all__ = ["BUCKETS", "Baseline", "EnergyMinutes", "counter_delta", "minute_of", "rollup", "spread"]
