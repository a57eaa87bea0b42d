"""A PV forecast for the hours ahead: pvlib's clear sky, scaled by what the parks really gave lately.

Clear-sky irradiance (Ineichen, pvlib's Linke turbidity climatology) at the
cooperative's location, transposed onto a fixed tilt and azimuth, times the
rated power of all parks, with PVWatts-like losses: the most the parks could
give. Recent reality scales it: the ratio of the power actually measured to
the clear-sky power over the last hour (clouds today are likely clouds in the
next hours), 1 when nothing has been measured yet in daylight.

The scheduler asks `energy_wh(horizon_s)` for a departure plan: how much green
energy may still come before the deadline. Pure apart from pvlib: time is
handed in (`clock`), nothing is fetched from anywhere.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np

STEP = timedelta(minutes=15)
LOSSES = 0.86  # soiling, wiring, inverter, temperature: PVWatts' default 14 %
WINDOW = timedelta(hours=1)  # how far back the measured/clear-sky ratio looks


@lru_cache(maxsize=8)
def _clear_sky_day(
    latitude: float, longitude: float, altitude_m: float, tilt: float, azimuth: float, day: date
) -> np.ndarray:
    """Plane-of-array clear-sky irradiance (W/m²) of one UTC day, every 15 minutes (97 points, both ends)."""
    import pandas as pd  # here, not at the top: pvlib and what it pulls in cost ~100 MiB a charger-only
    import pvlib  # central system never needs

    times = pd.date_range(datetime.combine(day, datetime.min.time(), UTC), periods=97, freq="15min")
    site = pvlib.location.Location(latitude, longitude, altitude=altitude_m)
    with warnings.catch_warnings():  # pandas deprecations inside pvlib, not ours to fix
        warnings.simplefilter("ignore")
        sky = site.get_clearsky(times, model="ineichen")
        sun = site.get_solarposition(times)
    poa = pvlib.irradiance.get_total_irradiance(
        tilt, azimuth, sun["apparent_zenith"], sun["azimuth"], sky["dni"], sky["ghi"], sky["dhi"]
    )
    values: np.ndarray = np.clip(np.nan_to_num(np.asarray(poa["poa_global"], dtype=float)), 0.0, None)
    return values


@dataclass
class ClearSkyForecast:
    latitude: float
    longitude: float
    rated_power_w: float
    clock: Callable[[], datetime]
    altitude_m: float = 0.0
    tilt_deg: float = 30.0
    azimuth_deg: float = 180.0
    _recent: deque[tuple[datetime, float, float]] = field(default_factory=deque)  # (ts, measured W, clear W)
    # running sums over _recent, daylight only: ratio() is asked once per departure plan per scheduler run
    _measured_sum: float = 0.0
    _clear_sum: float = 0.0

    def clear_sky_w(self, ts: datetime) -> float:
        """The parks' power under a clear sky at `ts` (interpolated between 15-minute points)."""
        ts = ts.astimezone(UTC)
        start = datetime.combine(ts.date(), datetime.min.time(), UTC)
        poa = _clear_sky_day(self.latitude, self.longitude, self.altitude_m, self.tilt_deg, self.azimuth_deg, ts.date())
        position = (ts - start) / STEP
        index = min(int(position), len(poa) - 2)
        fraction = position - index
        irradiance = float(poa[index]) * (1 - fraction) + float(poa[index + 1]) * fraction
        return max(0.0, self.rated_power_w * irradiance / 1000.0 * LOSSES)

    def observe(self, measured_w: float) -> None:
        """The parks' live power now (called every second or so)."""
        now = self.clock()
        if not math.isfinite(measured_w):
            return
        measured, clear = max(0.0, measured_w), self.clear_sky_w(now)
        if clear <= 0:
            measured = 0.0  # at night a reading says nothing about clouds
        self._recent.append((now, measured, clear))
        self._measured_sum += measured
        self._clear_sum += clear
        while self._recent and self._recent[0][0] < now - WINDOW:
            _, old_measured, old_clear = self._recent.popleft()
            self._measured_sum -= old_measured
            self._clear_sum -= old_clear

    def ratio(self) -> float:
        """Measured over clear sky in the last hour (1 without daylight measurements), within [0, 1.2]."""
        if self._clear_sum <= 1e-6:
            return 1.0
        return min(1.2, max(0.0, self._measured_sum) / self._clear_sum)

    def energy_wh(self, horizon_s: float) -> float:
        """Green energy the parks may give from now until `horizon_s` seconds ahead (Wh)."""
        if horizon_s <= 0 or self.rated_power_w <= 0:
            return 0.0
        now = self.clock()
        ratio = self.ratio()
        total, t, end = 0.0, now, now + timedelta(seconds=min(horizon_s, 3 * 86_400))
        while t < end:
            step_end = min(end, t + STEP)
            middle = t + (step_end - t) / 2
            total += self.clear_sky_w(middle) * (step_end - t).total_seconds() / 3600.0
            t = step_end
        return total * ratio

    def slots_w(self, start: datetime, slot_s: float, slots: int) -> list[float]:
        """Mean power per slot from `start` (the planner's forecast): clear sky at mid-slot times the ratio."""
        ratio = self.ratio()
        step = timedelta(seconds=slot_s)
        return [self.clear_sky_w(start + step * (k + 0.5)) * ratio for k in range(slots)]


__all__ = ["ClearSkyForecast"]
