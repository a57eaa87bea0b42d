"""The planner's forecast service: Open-Meteo's client against a loopback double of its API."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.forecast_service import ForecastServiceError, OpenMeteoForecast, forecast_series
from gateway.planner_settings import PlannerSettings
from gateway.planning_feeds import PlannerFeeds, read_series
from gateway.settings import ConfigError
from solar.forecast import LOSSES
from tests.fixtures.open_meteo import open_meteo, weather_response
from tests.fixtures.platform import make_settings, running_platform
from tests.integration.test_planner_serve import answer_calls
from tests.protocol.ocpp_client import Client

QUARTER = timedelta(minutes=15)
_VALID = weather_response(52.0, 5.0, datetime(2026, 6, 1, tzinfo=UTC), 900, [0.0, 250.0, 800.0])


def _damaged(at: int, junk: bytes) -> bytes:
    """A valid answer with a few bytes overwritten somewhere (or cut short)."""
    at = min(at, len(_VALID))
    return _VALID[:at] + junk + _VALID[at + len(junk) :]


def quarter_hour(ts: datetime) -> datetime:
    return ts.replace(minute=ts.minute - ts.minute % 15, second=0, microsecond=0)


async def test_the_forecast_is_the_parks_power_over_each_quarter_hour() -> None:
    start = quarter_hour(datetime.now(UTC))
    async with open_meteo(start, [0.0, 200.0, 800.0, 1000.0]) as double:
        service = OpenMeteoForecast(double.url, 52.1, 5.2, 10_000.0, tilt_deg=35, azimuth_deg=200)
        assert await service.refresh(start)
    (asked,) = double.requests
    assert (asked["latitude"], asked["longitude"], asked["tilt"], asked["azimuth"]) == ("52.1", "5.2", "35", "20.0")
    assert (asked["minutely_15"], asked["format"]) == ("global_tilted_irradiance", "flatbuffers")
    assert service.series is not None
    # each value is the mean of the quarter hour before its time
    assert [ts for ts, _ in service.series.rows] == [start + QUARTER * (k - 1) for k in range(4)]
    assert [v for _, (v,) in service.series.rows] == pytest.approx([0.0, 1720.0, 6880.0, 10_000.0 * LOSSES])
    assert service.series.at(start + QUARTER + timedelta(minutes=5)) == pytest.approx((6880.0,))


async def test_a_failed_refresh_keeps_the_last_forecast_and_is_counted() -> None:
    start = quarter_hour(datetime.now(UTC))
    async with open_meteo(start, [500.0] * 8) as double:
        service = OpenMeteoForecast(double.url, 52.0, 5.0, 4_000.0)
        assert await service.refresh(start)
        kept = service.series
        double.fail_with = 500
        assert not await service.refresh(start)
        double.fail_with = 429  # rate limited: the client reads the JSON reason
        assert not await service.refresh(start)
    assert service.series is kept
    assert service.failures == 2
    gone = OpenMeteoForecast("http://127.0.0.1:9/v1/forecast", 52.0, 5.0, 4_000.0)  # nothing listens
    assert not await gone.refresh(start)
    assert gone.series is None


async def test_the_file_overrides_the_service_which_overrides_the_model(tmp_path: Path) -> None:
    start = quarter_hour(datetime.now(UTC)) + timedelta(hours=1)
    async with open_meteo(start, [1000.0] * 9) as double:  # covers [start - 15 min, start + 2 h)
        service = OpenMeteoForecast(double.url, 52.0, 5.0, 1_000.0)
        assert await service.refresh(start)
    forecast = tmp_path / "forecast.csv"
    forecast.write_text(f"timestamp,power_w\n{(start + timedelta(hours=1)).isoformat()},123\n", encoding="utf-8")
    feeds = PlannerFeeds(
        PlannerSettings(),
        clock=lambda: start,
        scheduler_clock=lambda: 0.0,
        forecast_file=read_series(forecast, "planner.forecast_csv", 1),
        service=service,
    )
    slots = feeds.forecast_w(0.0, 900.0, 12)  # three hours: service, service then file, then nothing
    assert slots[:4] == pytest.approx([1000.0 * LOSSES] * 4)
    assert slots[4:8] == pytest.approx([123.0] * 4)  # the file's hour
    assert slots[8:] == [0.0] * 4  # no model (no location), the service over: no sun planned


def test_a_forecast_url_without_the_parks_location_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"planner\.forecast_url: needs solar\.latitude"):
        make_settings(tmp_path, planner={"forecast_url": "http://127.0.0.1:9/v1/forecast"})
    with pytest.raises(ConfigError, match=r"planner\.forecast_url"):
        make_settings(tmp_path, planner={"forecast_url": "ftp://example/forecast"})


async def test_serve_plans_on_the_service_forecast(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    # where it is night now: the parks' clear-sky model plans no sun for hours, the service says otherwise
    longitude = (180.0 - now.hour * 15.0) % 360.0 - 180.0
    async with open_meteo(quarter_hour(now), [900.0] * 200) as double:
        settings = make_settings(
            tmp_path,
            solar={"latitude": 0.0, "longitude": longitude},
            parks=[{"id": "park-1", "member_id": "m1", "inverters": [{"id": "inv-1", "rated_power_w": 20_000.0}]}],
            planner={"slot_s": 900, "replan_s": 60, "forecast_url": double.url, "forecast_refresh_s": 600},
        )
        async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
            for _ in range(100):
                if platform.forecast_service is not None and platform.forecast_service.series is not None:
                    break
                await asyncio.sleep(0.1)
            assert double.requests, "the leader asked the forecast service"
            plan = await departure_plan(platform.http_url, platform.ocpp_url, http)
    # the first hour is night for the parks' own model: only the service's sun can be planned there
    planned_sun = sum(slot["green_ev_wh"] + slot["export_wh"] for slot in plan["slots"][1:5])
    assert planned_sun > 10_000
    assert platform.forecast_service is not None
    assert platform.forecast_service.failures == 0


async def departure_plan(base: str, ocpp_url: str, http: aiohttp.ClientSession) -> dict[str, Any]:
    """A car on CP-A wanting 30 kWh within 10 hours; the site's plan once the planner has it."""
    async with http.ws_connect(f"{ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws:
        client = Client(ws)
        await client.call("b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        start = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": datetime.now(UTC).isoformat()}
        transaction_id = (await client.call("s", "StartTransaction", start))[2]["transactionId"]
        stop = asyncio.Event()
        answering = asyncio.create_task(answer_calls(client, stop))
        leaving = (datetime.now(UTC) + timedelta(hours=10)).replace(microsecond=0)
        body = {"mode": "departure", "energy_wh": 30_000, "departure": leaving.isoformat()}
        async with http.put(f"{base}/api/sessions/{transaction_id}/mode", json=body) as response:
            assert response.status == 200
        plan: dict[str, Any] = {}
        for _ in range(100):
            async with http.get(f"{base}/api/sites/site-a/plan") as response:
                plan = json.loads(await response.text())
            if plan["planned"] and plan["sessions"] and sum(plan["sessions"][0]["energy_wh"]) > 29_000:
                break
            await asyncio.sleep(0.1)
        stop.set()
        await answering
    assert plan["planned"], plan
    return plan


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.builds(_damaged, st.integers(0, 400), st.binary(min_size=1, max_size=8)))
def test_any_answer_is_a_forecast_or_a_clear_error(body: bytes) -> None:
    try:
        series = forecast_series(body, 10_000.0)
    except ForecastServiceError:
        return
    assert all(math.isfinite(v) and v >= 0 for _, (v,) in series.rows)
