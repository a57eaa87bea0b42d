"""The inverter simulator's default start: sunrise at the weather file's place, from pvlib."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pvlib
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.inverter import _weather, park_power_w, sunrise


def _elevation(ts: datetime, location: str) -> float:
    _, meta = _weather(location)
    position = pvlib.solarposition.get_solarposition(pd.DatetimeIndex([ts]), meta["latitude"], meta["longitude"])
    return float(position["apparent_elevation"].iloc[0])


def test_the_readmes_day_starts_when_greensboro_sees_the_sun() -> None:
    rise = sunrise(datetime(1990, 6, 14, tzinfo=UTC), "greensboro")
    assert datetime(1990, 6, 14, 9, 55, tzinfo=UTC) <= rise <= datetime(1990, 6, 14, 10, 10, tzinfo=UTC)  # 06:0x EDT
    assert park_power_w(datetime(1990, 6, 14, 6, tzinfo=UTC), 5000.0) == 0.0  # the old default start: night
    assert park_power_w(rise + timedelta(hours=2), 5000.0) > 500.0


@settings(max_examples=25, deadline=None)
@given(day=st.dates(datetime(1990, 1, 1).date(), datetime(1990, 12, 31).date()), location=st.sampled_from(
    ["greensboro", "sand-point"]))  # fmt: skip
def test_sunrise_is_the_moment_the_sun_clears_the_horizon_that_morning(day: date, location: str) -> None:
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    rise = sunrise(start, location)
    assert abs(_elevation(rise, location) - (-0.83)) < 0.3  # refraction and the sun's radius: -0.83 degrees
    assert _elevation(rise + timedelta(hours=1), location) > _elevation(rise, location)  # morning, not evening
    assert start - timedelta(hours=12) < rise < start + timedelta(hours=36)  # that local day
