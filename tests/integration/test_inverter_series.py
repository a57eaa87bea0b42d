"""Each inverter's generation over time, grouped in SQL, on SQLite and PostgreSQL: the park page's curves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.storage import open_store
from solar.accounting import Baseline, rollup

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("bucket", ["minute", "15min", "hour"])
async def test_inverter_series_are_each_inverters_rollup(database_url: str, bucket: str) -> None:
    start = datetime(2026, 5, 31, 22, 50, tzinfo=UTC)  # across hours
    minutes = [start + timedelta(minutes=7 * k) for k in range(30)]
    solar = {(f"park-1/inv-{k % 3}", m): 1.0 + k for k, m in enumerate(minutes)}
    async with open_store(database_url) as store:
        await store.energy.add_minutes(solar, {"park-1/inv-0": Baseline(minutes[-1], 1.0)}, [])
        await store.energy.add_minutes({("park-2/inv-0", minutes[0]): 99.0}, {}, [])  # another park's
        series = await store.energy.inverter_series("park-1", start, start + timedelta(hours=5), bucket)
        later = await store.energy.inverter_series("park-1", minutes[10], start + timedelta(hours=5), bucket)
    assert list(series) == ["inv-0", "inv-1", "inv-2"]
    for inverter, points in series.items():
        mine = ((m, wh) for (key, m), wh in solar.items() if key == f"park-1/{inverter}")
        expected: list[Any] = [(at, pytest.approx(wh)) for at, wh in rollup(mine, bucket)]
        assert points == expected
    assert sum(wh for points in later.values() for _, wh in points) == pytest.approx(
        sum(wh for (_, m), wh in solar.items() if m >= minutes[10])  # the period cuts by minute, not bucket
    )


async def test_days_are_not_an_inverter_bucket(database_url: str) -> None:
    async with open_store(database_url) as store:
        with pytest.raises(ValueError, match="minute, 15min or hour"):
            await store.energy.inverter_series("park-1", datetime(2026, 1, 1, tzinfo=UTC), datetime.now(UTC), "day")
