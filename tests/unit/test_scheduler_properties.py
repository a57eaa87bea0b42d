"""Hypothesis over the whole loop: what chargers were last told never exceeds a site's limit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chargepoints.events import MeterSample, TransactionStarted, TransactionStopped
from smartgrid.allocation import Site
from smartgrid.hysteresis import HysteresisSettings
from smartgrid.ports import ChargerSpec
from smartgrid.scheduler import Scheduler

T = datetime(2026, 6, 1, tzinfo=UTC)
CHARGERS = {
    "A": ChargerSpec("s"),
    "B": ChargerSpec("s", phases=1),
    "C": ChargerSpec("s", max_current_a=32.0),
    "D": ChargerSpec("t", phase_switching=True),
    "E": ChargerSpec("t"),
}

steps = st.lists(
    st.tuples(
        st.sampled_from(["start", "start", "stop", "meter", "mode", "target", "site", "nudge", "sun"]),
        st.sampled_from(sorted(CHARGERS)),
        st.floats(0, 40),  # amperes, for meters and site limits
        st.floats(0, 60_000),  # green W
        st.sampled_from(["green", "green_min", "fast", "departure"]),
        st.floats(0, 600),  # seconds to advance
    ),
    min_size=5,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    steps=steps,
    hysteresis=st.builds(
        HysteresisSettings,
        enable_delay_s=st.sampled_from([0.0, 60.0]),
        disable_delay_s=st.sampled_from([0.0, 180.0]),
        min_update_interval_s=st.sampled_from([0.0, 30.0]),
        phase_switch_hold_s=st.sampled_from([0.0, 600.0]),
    ),
    min_change_a=st.sampled_from([0.1, 0.5, 2.0]),
)
def test_told_limits_respect_sites(
    steps: list[tuple[str, str, float, float, str, float]], hysteresis: HysteresisSettings, min_change_a: float
) -> None:
    told: dict[str, float] = {}
    now = [0.0]
    green = [0.0]

    async def send(cp: str, connector: int, limit_a: float, tx: int | None) -> None:
        told[cp] = limit_a

    async def publish(site_id: str, allocation: dict[str, Any]) -> None:
        return None

    async def switch(cp: str, connector: int, phases: int) -> None:
        return None

    async def scenario() -> None:
        scheduler = Scheduler(
            sites={"s": Site("s", 40.0, base_load_a=5.0), "t": Site("t", 25.0)},
            chargers=CHARGERS,
            green_power_w=lambda: green[0],
            send_limit=send,
            publish_allocation=publish,
            clock=lambda: now[0],
            min_change_a=min_change_a,
            hysteresis=hysteresis,
            switch_phases=switch,
        )
        tx = {cp: k for k, cp in enumerate(sorted(CHARGERS), start=1)}
        for action, cp, amps, green_w, mode, advance in steps:
            now[0] += advance
            green[0] = green_w
            if action == "start":
                await scheduler.on_event(TransactionStarted(cp, 1, tx[cp], "T", 0.0, T))
            elif action == "stop":
                await scheduler.on_event(TransactionStopped(cp, tx[cp], 0.0, "Local", T))
                told.pop(cp, None)  # the transaction ended: the charger no longer draws
            elif action == "meter":
                await scheduler.on_event(MeterSample(cp, 1, tx[cp], T, energy_wh=amps * 100, current_a=amps))
            elif action == "mode":
                scheduler.set_mode(cp, 1, mode)
            elif action == "target":
                scheduler.set_target(cp, 1, green_w, now[0] + advance * 10)
            elif action == "site":
                scheduler.sites["s"] = Site("s", 6.0 + amps, base_load_a=5.0)
            elif action == "nudge":  # a cut smaller than min_change_a
                site = scheduler.sites["s"]
                scheduler.sites["s"] = Site("s", max(5.0, site.grid_limit_a - amps / 20), base_load_a=5.0)
            setpoints = await scheduler.run_once()
            for site_id, site in scheduler.sites.items():
                capacity = max(0.0, site.grid_limit_a - site.base_load_a)
                at_site = [cp for cp, spec in CHARGERS.items() if spec.site_id == site_id]
                assert sum(told.get(cp, 0.0) for cp in at_site) <= capacity + 1e-6
            for point in setpoints.values():
                spec = CHARGERS[point.charge_point_id]
                assert point.limit_a == 0.0 or spec.min_current_a - 1e-6 <= point.limit_a <= spec.max_current_a + 1e-6

    asyncio.run(scenario())
