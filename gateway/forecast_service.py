"""The planner's optional forecast service: Open-Meteo's solar forecast, read with its SDK.

Every `planner.forecast_refresh_s` the leader asks `planner.forecast_url` (Open-Meteo's `/v1/forecast`, or
anything that answers like it) for the next two days' 15-minute global tilted irradiance at the parks'
location, tilt and azimuth, and turns it into the parks' power the way their own model does (rated power
x irradiance / 1000 W/m² x the PVWatts losses). The planner then counts on it where it covers a slot; a
failed refresh keeps the last forecast (and, with none, the parks' clear-sky model stands in), is logged
and counted. Open-Meteo's 15-minute values are each the mean of the quarter hour before their time: the
series here holds each one over that quarter hour.

The answer is asked in Open-Meteo's FlatBuffers format and read with its own SDK (`openmeteo-sdk`, the
types its client library `openmeteo-requests` reads with). The request itself goes through aiohttp, as
every other outside call here: that client's HTTP library (niquests) installs urllib3-future, which
takes the place of urllib3 for every other package in the environment.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from openmeteo_sdk.Variable import Variable
from openmeteo_sdk.WeatherApiResponse import WeatherApiResponse

from smartgrid.series import StepSeries
from solar.forecast import LOSSES

log = logging.getLogger(__name__)
RETRY_S = 300.0  # after a failed refresh, try again this soon (or at the refresh interval, if shorter)


class ForecastServiceError(RuntimeError):
    """An answer that holds no usable forecast."""


def read_answers(data: bytes) -> list[WeatherApiResponse]:
    """Open-Meteo's FlatBuffers answer: one size-prefixed WeatherApiResponse per location (an error as text)."""
    answers, position = [], 0
    while position < len(data):
        if len(data) - position < 4:
            raise ForecastServiceError("a truncated answer")
        length = int.from_bytes(data[position : position + 4], "little")
        if data[position : position + 4] == b"Unex":  # "Unexpected ...": an error in the stream
            raise ForecastServiceError(data[position:].decode("utf-8", "replace")[:200])
        if length <= 0 or position + 4 + length > len(data):
            raise ForecastServiceError("a truncated answer")
        answers.append(WeatherApiResponse.GetRootAs(data, position + 4))
        position += 4 + length
    return answers


def forecast_series(body: bytes, rated_power_w: float) -> StepSeries:
    """The parks' power (W) from an answer, each value held over the quarter hour before its time; anything
    that is not such an answer is a ForecastServiceError."""
    try:
        return _series(body, rated_power_w)
    except (IndexError, ValueError, TypeError, OverflowError, OSError, struct.error) as exc:  # unreadable
        raise ForecastServiceError(f"an answer that cannot be read: {type(exc).__name__}") from None


def _series(body: bytes, rated_power_w: float) -> StepSeries:
    responses = read_answers(body)
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
        power_w = rated_power_w * max(0.0, irradiance) / 1000.0 * LOSSES if math.isfinite(irradiance) else 0.0
        rows.append((start + step * (k - 1), (power_w,)))  # the mean of the quarter hour before its time
    if not rows:
        raise ForecastServiceError("the answer has no values")
    return StepSeries(rows, outside=(0.0,))


@dataclass
class OpenMeteoForecast:
    url: str
    latitude: float
    longitude: float
    rated_power_w: float
    tilt_deg: float = 30.0
    azimuth_deg: float = 180.0  # pvlib's: 180 = south (Open-Meteo counts from south: 0)
    refresh_s: float = 3600.0
    timeout_s: float = 20.0
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
        params = {key: str(value) for key, value in self.params().items()} | {"format": "flatbuffers"}
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(self.url, params=params) as response:
            body = await response.read()
            if response.status != 200:
                raise ForecastServiceError(f"HTTP {response.status}: {body[:200].decode('utf-8', 'replace')}")
        return forecast_series(body, self.rated_power_w)

    async def refresh(self, now: datetime) -> bool:
        try:
            self.series = await self.fetch()
        except (aiohttp.ClientError, ForecastServiceError, OSError, TimeoutError) as exc:
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
