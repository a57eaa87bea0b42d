"""The PV forecast: pvlib's clear sky at the cooperative's place, scaled by what the parks gave lately."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from solar.forecast import ClearSkyForecast
from tests.fixtures.platform import make_settings, running_platform

# Greensboro NC, the place of the TMY file the simulators use; solar noon is about 17:20 UTC
NOON = datetime(2026, 6, 14, 17, 20, tzinfo=UTC)


def forecast_at(ts: datetime, rated_w: float = 100_000.0) -> tuple[ClearSkyForecast, list[datetime]]:
    now = [ts]
    return ClearSkyForecast(36.1, -79.9, rated_w, clock=lambda: now[0], altitude_m=270.0), now  # type: ignore[return-value]


def test_clear_sky_is_highest_near_noon_and_zero_at_night() -> None:
    forecast, _ = forecast_at(NOON)
    noon = forecast.clear_sky_w(NOON)
    assert 60_000 < noon < 100_000  # a 100 kW park on a clear June noon, after losses
    assert forecast.clear_sky_w(NOON - timedelta(hours=4)) < noon
    assert forecast.clear_sky_w(NOON.replace(hour=6)) == 0.0  # 2 am local


def test_energy_ahead_grows_with_the_horizon_and_stops_at_night() -> None:
    forecast, _ = forecast_at(NOON)
    one, four, day = forecast.energy_wh(3600), forecast.energy_wh(4 * 3600), forecast.energy_wh(12 * 3600)
    assert 0 < one < four < day
    assert one == pytest.approx(forecast.clear_sky_w(NOON + timedelta(minutes=30)), rel=0.05)
    night, _ = forecast_at(NOON.replace(hour=5))
    assert night.energy_wh(3 * 3600) == 0.0
    assert forecast.energy_wh(0) == 0.0


def test_recent_clouds_scale_the_forecast() -> None:
    forecast, now = forecast_at(NOON - timedelta(hours=1))
    clear_ahead = forecast.energy_wh(2 * 3600)
    for _ in range(60):  # an hour at 40 % of clear sky
        forecast.observe(0.4 * forecast.clear_sky_w(now[0]))
        now[0] += timedelta(minutes=1)
    assert forecast.ratio() == pytest.approx(0.4, abs=0.01)
    now[0] = NOON - timedelta(hours=1)
    assert forecast.energy_wh(2 * 3600) == pytest.approx(0.4 * clear_ahead, rel=0.02)


def test_no_daylight_measurement_means_no_scaling_and_bad_values_are_ignored() -> None:
    forecast, _ = forecast_at(NOON.replace(hour=6))
    forecast.observe(float("nan"))
    forecast.observe(500.0)  # at night: says nothing about clouds
    assert forecast.ratio() == 1.0


async def test_the_platform_hands_the_forecast_to_the_scheduler(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        solar={"latitude": 36.1, "longitude": -79.9},
        cooperatives=[{"id": "c", "members": [{"id": "m"}]}],
        parks=[{"id": "p", "member_id": "m", "inverters": [{"id": "i", "rated_power_w": 10_000.0}]}],
    )
    async with running_platform(settings) as platform:
        assert platform.forecast is not None
        assert platform.forecast.rated_power_w == 10_000.0
        assert platform.scheduler._green_forecast_wh == platform.forecast.energy_wh  # noqa: SLF001
        assert platform.forecast.energy_wh(24 * 3600) > 0  # a day ahead holds a daylight somewhere
    async with running_platform(make_settings(tmp_path / "none")) as platform:
        assert platform.forecast is None
