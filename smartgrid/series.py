"""Time series in CSV text: `timestamp,value[,value...]` rows, each holding until the next (pure: text in).

The planner's offline feeds (a forecast file, a price file) and the planning scenarios use this one
parser. A header row is allowed; timestamps are ISO 8601 with a zone and increase; values are finite.
"""

from __future__ import annotations

import bisect
import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


class SeriesError(ValueError):
    """A series that cannot be read; the message names the source and the line."""


Row = tuple[datetime, tuple[float, ...]]


def parse_series(text: str, source: str, columns: int) -> list[Row]:
    rows: list[Row] = []
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise SeriesError(f"{source}: not CSV: {exc}") from None
    for number, row in enumerate(lines, start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != columns + 1:
            raise SeriesError(f"{source}: line {number}: {columns + 1} columns expected, got {len(row)}")
        try:
            ts = datetime.fromisoformat(row[0].strip().replace("Z", "+00:00"))
            values = tuple(float(cell) for cell in row[1:])
        except ValueError:
            if number == 1 and not rows:
                continue  # the header
            raise SeriesError(f"{source}: line {number}: not a timestamp and {columns} number(s)") from None
        if ts.tzinfo is None:
            raise SeriesError(f"{source}: line {number}: give the time zone (UTC, e.g. ...Z)")
        if not all(math.isfinite(v) for v in values):
            raise SeriesError(f"{source}: line {number}: not a finite number")
        ts = ts.astimezone(UTC)
        if rows and ts <= rows[-1][0]:
            raise SeriesError(f"{source}: line {number}: timestamps must increase")
        rows.append((ts, values))
    if not rows:
        raise SeriesError(f"{source}: no rows")
    return rows


@dataclass(frozen=True, slots=True)
class StepSeries:
    """Rows each holding until the next; the last holds as long as the step before it. Outside: `outside`
    (None: the nearest row's values)."""

    rows: Sequence[Row]
    outside: tuple[float, ...] | None = None

    def covers(self, ts: datetime) -> bool:
        times = self.rows
        last_span = times[-1][0] - times[-2][0] if len(times) > 1 else timedelta(hours=1)
        return times[0][0] <= ts < times[-1][0] + last_span

    def at(self, ts: datetime) -> tuple[float, ...]:
        if self.outside is not None and not self.covers(ts):
            return self.outside
        k = bisect.bisect_right([r[0] for r in self.rows], ts) - 1
        return self.rows[max(0, k)][1]

    def slot_means(self, start: datetime, slot_s: float, slots: int, column: int = 0) -> list[float]:
        """Each slot's time-weighted mean of the column (`outside` where the series says nothing)."""
        step = timedelta(seconds=slot_s)
        times = [r[0] for r in self.rows]
        edges = sorted({*times, times[-1] + (times[-1] - times[-2] if len(times) > 1 else timedelta(hours=1))})
        out = []
        for k in range(slots):
            a, b = start + step * k, start + step * (k + 1)
            cuts = [a, *(t for t in edges if a < t < b), b]
            total = sum(self.at(x)[column] * (y - x).total_seconds() for x, y in zip(cuts, cuts[1:], strict=False))
            out.append(total / slot_s)
        return out
