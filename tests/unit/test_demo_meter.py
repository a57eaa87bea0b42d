"""The demo's depot meter stays online between two of its polls on the demo's simulated clock.

The meter is polled every second of wall time while the platform judges its silence on the demo's clock,
which runs `speed` times faster: with a timeout of five clock seconds the depot fell back to its static
limit between readings, and a CI run's demo showed "depot: static limit" on every status line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.demo import demo_settings
from solar.meters import GridMeters, MeterPartial, MeterSpec

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("speed", [1.0, 60.0, 120.0])
async def test_the_depot_meter_is_online_between_two_polls_at_any_demo_speed(speed: float) -> None:
    settings = demo_settings("sqlite+aiosqlite://", meter_port=1502, speed=speed)
    site = next(s for s in settings.sites if s.meter is not None)
    config = site.meter
    assert config is not None
    now = [T0]

    async def publish(event: object) -> None:
        return None

    meters = GridMeters(
        meters={site.id: MeterSpec(site.id, config.layout, timeout_s=config.timeout_s)},
        publish=publish,
        clock=lambda: now[0],
    )
    poll_on_the_clock = timedelta(seconds=config.interval_s * speed)  # one wall-clock poll, on the demo's clock
    for _ in range(5):
        await meters.accept(site.id, MeterPartial((4.0, 4.0, 4.0), None, None))
        now[0] += poll_on_the_clock * 0.99
        await meters.check_timeouts()
        assert meters.state(site.id) == "online"
        now[0] += poll_on_the_clock * 0.01
    now[0] += poll_on_the_clock * 6  # a meter that stops answering is still found silent
    await meters.check_timeouts()
    assert meters.state(site.id) == "silent"
