"""The planner's offline feeds: the series parser (smartgrid.series) and the files of [planner]."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.planner_settings import PlannerSettings
from gateway.planning_feeds import FeedError, load_feeds
from gateway.settings import BatteryConfig, ConfigError, load_settings
from smartgrid.series import SeriesError, StepSeries, parse_series

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def test_a_series_holds_each_row_until_the_next_and_knows_where_it_ends() -> None:
    rows = parse_series("timestamp,power_w\n2026-06-01T00:00:00Z,100\n2026-06-01T01:00:00+00:00,300\n", "f", 1)
    series = StepSeries(rows, outside=(0.0,))
    assert series.at(T0 + timedelta(minutes=59)) == (100.0,)
    assert series.at(T0 + timedelta(minutes=60)) == (300.0,)
    assert series.at(T0 + timedelta(minutes=119)) == (300.0,)  # the last row holds one step
    assert series.at(T0 + timedelta(minutes=120)) == (0.0,)
    assert series.at(T0 - timedelta(minutes=1)) == (0.0,)
    assert series.slot_means(T0 + timedelta(minutes=30), 3600, 1) == pytest.approx([200.0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no rows"),
        ("2026-06-01T00:00:00Z,1,2\n", "2 columns expected"),
        ("2026-06-01T00:00:00,1\n", "time zone"),
        ("2026-06-01T00:00:00Z,1\n2026-06-01T00:00:00Z,2\n", "line 2: timestamps must increase"),
        ("2026-06-01T00:00:00Z,nan\n", "finite"),
        ("2026-06-01T00:00:00Z,1\nx,2\n", "line 2: not a timestamp"),
    ],
)
def test_bad_series_are_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(SeriesError, match=message):
        parse_series(text, "f", 1)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=30),
    gaps=st.lists(st.integers(1, 7200), min_size=30, max_size=30),
)
def test_written_series_are_read_back(values: list[float], gaps: list[int]) -> None:
    times = [T0]
    for gap in gaps[: len(values) - 1]:
        times.append(times[-1] + timedelta(seconds=gap))
    text = "timestamp,v\n" + "".join(f"{t.isoformat()},{v!r}\n" for t, v in zip(times, values, strict=False))
    rows = parse_series(text, "f", 1)
    assert [r[0] for r in rows] == times
    assert [r[1][0] for r in rows] == values
    series = StepSeries(rows)
    for t, v in zip(times, values, strict=False):
        assert series.at(t) == (v,)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_is_a_series_or_a_series_error(text: str) -> None:
    try:
        parse_series(text, "f", 2)
    except SeriesError:
        pass


def test_the_files_give_the_slots_forecast_prices_and_the_batteries(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text("2026-06-01T00:00:00Z,1000\n2026-06-01T00:30:00Z,3000\n", encoding="utf-8")
    (tmp_path / "p.csv").write_text("2026-06-01T00:00:00Z,0.1,0.02\n2026-06-01T00:15:00Z,0.3,0.02\n", encoding="utf-8")
    f = load_feeds(
        PlannerSettings(forecast_csv=tmp_path / "f.csv", prices_csv=tmp_path / "p.csv", import_eur_per_kwh=0.25),
        [BatteryConfig(id="b", site_id="s", capacity_kwh=10, power_kw=5, soc_start=0.4, reserve=0.2)],
        clock=lambda: T0,
        scheduler_clock=lambda: 1000.0,
        model=None,
    )
    # the planner's time 1000 s is the platform's T0: slots of 15 min from there
    assert f.forecast_w(1000.0, 900, 5) == pytest.approx([1000, 1000, 3000, 3000, 0])
    prices = f.prices(1000.0, 900, 3)
    assert prices is not None
    assert prices[0] == pytest.approx([0.1, 0.3, 0.25])  # past the file's end: the flat price
    (battery,) = f.batteries()
    assert (battery.capacity_wh, battery.max_charge_w, battery.soc, battery.reserve) == (10_000, 5_000, 0.4, 0.2)


def test_an_unreadable_file_names_its_setting(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("2026-06-01T00:00:00Z,0.2\n", encoding="utf-8")
    with pytest.raises(FeedError, match=r"planner\.prices_csv .*line 1: 3 columns expected"):
        load_feeds(PlannerSettings(prices_csv=tmp_path / "bad.csv"), [], clock=lambda: T0,
                   scheduler_clock=lambda: 0.0, model=None)  # fmt: skip


def test_planner_settings_and_batteries_in_the_config(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[planner]\nslot_s = 600\nprices_csv = "prices.csv"\n'
        '[[sites]]\nid = "s"\n'
        '[[batteries]]\nid = "b"\nsite_id = "s"\ncapacity_kwh = 10\npower_kw = 5\n',
        encoding="utf-8",
    )
    loaded = load_settings(config)
    assert loaded.planner.enabled
    assert loaded.planner.slot_s == 600
    assert loaded.planner.prices_csv == tmp_path / "prices.csv"  # beside the configuration file
    assert loaded.batteries[0].efficiency == 0.9
    with pytest.raises(ConfigError, match="slot_s"):
        load_settings(planner={"slot_s": 60})
    with pytest.raises(ConfigError, match="soc_max"):
        load_settings(batteries=[{"id": "b", "site_id": "s", "capacity_kwh": 1, "power_kw": 1, "soc_min": 0.5,
                                  "soc_max": 0.4}])  # fmt: skip
