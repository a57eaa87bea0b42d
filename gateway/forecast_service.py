"""The planner's optional forecast service: Open-Meteo's solar forecast through its client library.

Every `planner.forecast_refresh_s` the leader asks `planner.forecast_url` (Open-Meteo's `/v1/forecast`, or
anything that answers like it) for the next two days' 15-minute global tilted irradiance at the parks'
location, tilt and azimuth, and turns it into the parks' power the way their own model does (rated power
x irradiance / 1000 W/m² x the PVWatts losses). The planner then counts on it where it covers a slot; a
failed refresh keeps the last forecast (and, with none, the parks' clear-sky model stands in), is logged
and counted. Open-Meteo's 15-minute values are each the mean of the quarter hour before their time: the
series here holds each one over that quarter hour.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from openmeteo_requests import AsyncClient, OpenMeteoRequestsError
from openmeteo_sdk.Variable import Variable

from smartgrid.series import StepSeries
from solar.forecast import LOSSES

log = logging.getLogger(__name__)
RETRY_S = 300.0  # after a failed refresh, try again this soon (or at the refresh interval, if shorter)


class ForecastServiceError(RuntimeError):
    """An answer that holds no usable forecast."""


@dataclass
class OpenMeteoForecast:
    url: str
    latitude: float
    longitude: float
    rated_power_w: float
    tilt_deg: float = 30.0
    azimuth_deg: float = 180.0  # pvlib's: 180 = south (Open-Meteo counts from south: 0)
    refresh_s: float = 3600.0
    series: StepSeries | None = None
    fetched_at: datetime | None = None
    failures: int = 0

    def params(self) -> dict[str, Any]:
        return {
            "latitude": self.latitude,
            "longitude": self.longitude,
            "minutely_15": "global_tilted_irradiance",
            "tilt": self.tilt_deg,
            "azimuth": self.azimuth_deg - 180.0,
            "forecast_days": 2,
            "timezone": "GMT",
        }

    async def fetch(self) -> StepSeries:
        """One refresh: the parks' power (W) per quarter hour, as a series holding each value for its 15 min."""
        responses = await AsyncClient().weather_api(self.url, params=self.params())
        if not responses:
            raise ForecastServiceError("no response in the answer")
        minutely = responses[0].Minutely15()
        if minutely is None or minutely.VariablesLength() == 0:
            raise ForecastServiceError("the answer has no minutely_15 values")
        variable = minutely.Variables(0)
        if variable is None or variable.Variable() != Variable.global_tilted_irradiance:
            raise ForecastServiceError("the answer's minutely_15 is not global_tilted_irradiance")
        interval = int(minutely.Interval())
        if interval <= 0:
            raise ForecastServiceError(f"interval {interval} s")
        start = datetime.fromtimestamp(int(minutely.Time()), UTC)
        step = timedelta(seconds=interval)
        rows = []
        for k in range(variable.ValuesLength()):
            irradiance = float(variable.Values(k))
            power_w = self.rated_power_w * max(0.0, irradiance) / 1000.0 * LOSSES if math.isfinite(irradiance) else 0.0
            rows.append((start + step * (k - 1), (power_w,)))  # the mean of the quarter hour before its time
        if not rows:
            raise ForecastServiceError("the answer has no values")
        return StepSeries(rows, outside=(0.0,))

    async def refresh(self, now: datetime) -> bool:
        try:
            self.series = await self.fetch()
        except (OpenMeteoRequestsError, ForecastServiceError, OSError, TimeoutError) as exc:
            self.failures += 1
            kept = "the last forecast is kept" if self.series is not None else "the parks' model stands in"
            log.warning("planner.forecast_url: refresh failed (%s); %s", str(exc)[:200], kept)
            return False
        self.fetched_at = now
        log.info("planner: forecast refreshed from %s (%d quarter hours)", self.url, len(self.series.rows))
        return True

    def covers(self, ts: datetime) -> bool:
        return self.series is not None and self.series.covers(ts)

    async def run(self, clock: Callable[[], datetime]) -> None:
        """Refresh now and every `refresh_s` (sooner again after a failure), until cancelled."""
        while True:
            done = await self.refresh(clock())
            await asyncio.sleep(self.refresh_s if done else min(self.refresh_s, RETRY_S))
