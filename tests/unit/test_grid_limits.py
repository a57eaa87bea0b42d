"""What a metered site's fuse leaves for its chargers (smartgrid.grid) and the scheduler following its meter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chargepoints.events import MeterSample, TransactionStarted
from smartgrid.allocation import SessionDemand, Site, Snapshot, allocate
from smartgrid.grid import ManagedDraw, managed_current_a, metered_site, uncontrolled_a
from smartgrid.ports import ChargerSpec
from smartgrid.scheduler import Scheduler
from solar.events import GridMeterReading, GridMeterStateChanged

T = datetime(2026, 6, 1, 12, tzinfo=UTC)
amps = st.floats(min_value=0, max_value=64, allow_nan=False)


def test_managed_current_is_what_it_draws_at_most_what_it_was_given() -> None:
    assert managed_current_a(ManagedDraw(3, 10.0, 16.0)) == 10.0
    assert managed_current_a(ManagedDraw(3, 16.0, 8.0)) == 8.0  # just cut: the lower limit counts
    assert managed_current_a(ManagedDraw(3, None, 12.0)) == 12.0
    assert managed_current_a(ManagedDraw(3, 7.0, None)) == 7.0
    assert managed_current_a(ManagedDraw(3, None, None)) == 0.0


def test_uncontrolled_load_per_phase() -> None:
    draws = [ManagedDraw(3, 10.0, 10.0), ManagedDraw(3, 6.0, 16.0), ManagedDraw(1, 16.0, 16.0)]
    # the single-phase session stays in its phase's uncontrolled load (its phase is not known)
    assert uncontrolled_a((40.0, 20.0, 16.0), draws) == (24.0, 4.0, 0.0)
    site, loads = metered_site(Site("s", 63.0, base_load_a=30.0), (40.0, 20.0, 16.0), draws)
    assert site == Site("s", 63.0, base_load_a=24.0)
    assert loads == (24.0, 4.0, 0.0)


@given(
    building=st.tuples(amps, amps, amps),
    drawn=st.lists(st.floats(0, 16), min_size=1, max_size=8),
    fuse=st.floats(20, 200),
)
def test_no_phase_over_the_fuse_once_the_chargers_follow(
    building: tuple[float, float, float], drawn: list[float], fuse: float
) -> None:
    """Whatever the building draws and the chargers drew: with the chargers at their new limits (and the building
    as it was), every phase is within the fuse, unless the building alone is over it."""
    draws = [ManagedDraw(3, d, 16.0) for d in drawn]
    measured = tuple(b + sum(drawn) for b in building)
    site, _ = metered_site(Site("s", fuse), measured, draws)
    sessions = [SessionDemand(f"cp{i}/1", f"cp{i}", 1, "s", mode="fast") for i in range(len(drawn))]
    limits = allocate(Snapshot(0.0, {"s": site}, sessions))
    total = sum(p.limit_a for p in limits.values())
    for phase in building:
        assert phase + total <= max(fuse, phase) + 1e-6


# -- the scheduler following a meter ------------------------------------------------------------------


class Ports:
    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.published: list[dict[str, Any]] = []

    async def send(self, cp: str, connector: int, limit_a: float, tx: int | None) -> None:
        self.sent[cp] = limit_a

    async def publish(self, site_id: str, allocation: dict[str, Any]) -> None:
        self.published.append(allocation)


def scheduler(ports: Ports, chargers: int = 4) -> Scheduler:
    return Scheduler(
        sites={"s": Site("s", grid_limit_a=63.0, base_load_a=20.0)},
        chargers={f"CP{i}": ChargerSpec("s", max_current_a=16.0) for i in range(chargers)},
        green_power_w=lambda: 0.0,
        send_limit=ports.send,
        publish_allocation=ports.publish,
        clock=lambda: 0.0,
    )


async def fast_sessions(s: Scheduler, n: int) -> None:
    for i in range(n):
        await s.on_event(TransactionStarted(f"CP{i}", 1, i + 1, "TAG", 0.0, T))
        s.set_mode(f"CP{i}", 1, "fast")


async def test_static_limit_without_a_meter() -> None:
    ports = Ports()
    s = scheduler(ports)
    await fast_sessions(s, 4)
    await s.run_once()
    assert sum(ports.sent.values()) == 43.0  # 63 - 20 configured
    assert ports.published[-1]["grid"]["source"] == "static"
    assert s.meter_fallback("s") is None


async def test_the_chargers_get_what_the_fuse_leaves_and_follow_a_load_step() -> None:
    ports = Ports()
    s = scheduler(ports)
    await fast_sessions(s, 4)
    await s.run_once()
    for cp, limit in ports.sent.items():  # the chargers report what they draw
        await s.on_event(MeterSample(cp, 1, None, T, current_a=limit))
    managed = sum(ports.sent.values())
    # the building draws 5 A on each phase: the chargers may have 58 A (at most their 64 A)
    await s.on_event(GridMeterReading("s", (5 + managed, 5 + managed, 5 + managed), None, None, T))
    await s.run_once()
    assert sum(ports.sent.values()) == 58.0
    grid = s.allocation("s")["grid"]  # type: ignore[index]
    assert grid["source"] == "meter"
    assert grid["base_load_a"] == 5.0
    for cp, limit in ports.sent.items():
        await s.on_event(MeterSample(cp, 1, None, T, current_a=limit))
    # a +40 A step on L2: the next run leaves 63 - 45 on every phase
    managed = sum(ports.sent.values())
    await s.on_event(GridMeterReading("s", (5 + managed, 45 + managed, 5 + managed), None, None, T))
    await s.run_once()
    assert sum(ports.sent.values()) == 16.0  # 18 A left: one at 16 A, the rest paused (below their 6 A minimum)
    assert s.allocation("s")["grid"]["uncontrolled_a"] == [5.0, 45.0, 5.0]  # type: ignore[index]


async def test_a_silent_meter_falls_back_to_the_static_limit_and_says_so() -> None:
    ports = Ports()
    s = scheduler(ports)
    await fast_sessions(s, 4)
    await s.on_event(GridMeterReading("s", (1.0, 1.0, 1.0), None, None, T))
    await s.run_once()
    assert sum(ports.sent.values()) == 62.0
    assert s.meter_fallback("s") is False
    published = len(ports.published)
    await s.on_event(GridMeterStateChanged("s", "silent", True, T))
    await s.run_once()
    assert sum(ports.sent.values()) == 43.0
    assert s.meter_fallback("s") is True
    assert len(ports.published) == published + 1  # the change of source is published
    assert ports.published[-1]["grid"] == {
        "source": "static",
        "meter": "silent",
        "grid_limit_a": 63.0,
        "base_load_a": 20.0,
        "measured_a": None,
        "uncontrolled_a": None,
    }


async def test_every_reading_is_not_republished() -> None:
    ports = Ports()
    s = scheduler(ports)
    await fast_sessions(s, 1)
    await s.on_event(GridMeterReading("s", (1.0, 1.0, 1.0), None, None, T))
    await s.run_once()
    before = len(ports.published)
    await s.on_event(GridMeterReading("s", (1.5, 1.2, 1.0), None, None, T))  # the session stays at 16 A
    await s.run_once()
    assert len(ports.published) == before
    assert s.allocation("s")["grid"]["measured_a"] == [1.5, 1.2, 1.0]  # type: ignore[index]


async def test_a_draw_reported_before_the_last_limit_counts_as_that_limit() -> None:
    """A charger given more than it last reported drawing: once it follows, the meter sees its new current;
    counting its old (lower) report would read that as a building load step."""
    ports = Ports()
    now = [0.0]
    s = Scheduler(
        sites={"s": Site("s", grid_limit_a=63.0)},
        chargers={f"CP{i}": ChargerSpec("s", max_current_a=16.0) for i in range(3)},
        green_power_w=lambda: 0.0,
        send_limit=ports.send,
        publish_allocation=ports.publish,
        clock=lambda: now[0],
    )
    await fast_sessions(s, 3)
    await s.on_event(GridMeterReading("s", (25.0, 25.0, 25.0), None, None, T))  # the building, nothing charging
    await s.run_once()
    assert ports.sent == {"CP0": 16.0, "CP1": 16.0, "CP2": 6.0}  # 38 A left
    now[0] = 1.0
    for cp, limit in ports.sent.items():
        await s.on_event(MeterSample(cp, 1, None, T, current_a=limit))
    await s.on_event(GridMeterReading("s", (10.0 + 38, 10.0 + 38, 10.0 + 38), None, None, T))  # the building: 10 A
    now[0] = 2.0
    await s.run_once()
    assert ports.sent == {"CP0": 16.0, "CP1": 16.0, "CP2": 16.0}
    now[0] = 3.0  # CP2 follows; its last report (6 A) is older than its new limit: the limit counts
    await s.on_event(GridMeterReading("s", (10.0 + 48, 10.0 + 48, 10.0 + 48), None, None, T))
    await s.run_once()
    assert s.allocation("s")["grid"]["uncontrolled_a"] == [10.0, 10.0, 10.0]  # type: ignore[index]
    now[0] = 4.0  # a report after its newest limit: what it draws counts again (at most that limit)
    drawn = min(12.0, ports.sent["CP2"])
    await s.on_event(MeterSample("CP2", 1, None, T, current_a=12.0))
    await s.on_event(GridMeterReading("s", (42 + drawn, 42 + drawn, 42 + drawn), None, None, T))
    await s.run_once()
    assert s.allocation("s")["grid"]["uncontrolled_a"] == [10.0, 10.0, 10.0]  # type: ignore[index]
