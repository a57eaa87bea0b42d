"""The scheduler with a hand-advanced clock: delays, rate limit, phase switching, departure targets, fail-safe."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chargepoints.events import MeterSample, TransactionStarted
from smartgrid.allocation import Site
from smartgrid.hysteresis import HysteresisSettings, OnOffGate, UpdateLimiter
from smartgrid.ports import ChargerSpec
from smartgrid.scheduler import Scheduler

T = datetime(2026, 6, 1, 12, tzinfo=UTC)
V = 230.0
W3 = 3 * V


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Ports:
    def __init__(self) -> None:
        self.green_w: float = 0.0
        self.sent: list[tuple[str, float]] = []
        self.switched: list[tuple[str, int]] = []
        self.forecast_wh = 0.0

    def green(self) -> float:
        if self.green_w != self.green_w or self.green_w < 0:  # NaN or negative stands for "unreadable"
            raise RuntimeError("stale telemetry")
        return self.green_w

    async def send(self, cp: str, connector: int, limit_a: float, tx: int | None) -> None:
        self.sent.append((cp, limit_a))

    async def publish(self, site_id: str, allocation: dict[str, Any]) -> None:
        pass

    async def switch(self, cp: str, connector: int, phases: int) -> None:
        self.switched.append((cp, phases))

    def last(self, cp: str) -> float | None:
        limits = [limit for c, limit in self.sent if c == cp]
        return limits[-1] if limits else None


def make(ports: Ports, clock: Clock, hysteresis: HysteresisSettings, **chargers: ChargerSpec) -> Scheduler:
    return Scheduler(
        sites={"s": Site("s", 63.0)},
        chargers=chargers or {"A": ChargerSpec("s"), "B": ChargerSpec("s")},
        green_power_w=ports.green,
        send_limit=ports.send,
        publish_allocation=ports.publish,
        clock=clock,
        hysteresis=hysteresis,
        switch_phases=ports.switch,
        green_forecast_wh=lambda horizon_s: ports.forecast_wh,
    )


async def start(s: Scheduler, cp: str, tx: int, meter_start_wh: float = 0.0) -> None:
    await s.on_event(TransactionStarted(cp, 1, tx, "TAG", meter_start_wh, T))


DELAYS = HysteresisSettings(enable_delay_s=60.0, disable_delay_s=180.0)


# (seconds since start, green in amperes of three-phase power, expected limit of A or None if nothing new sent)
ENABLE_DISABLE = [
    (0, 10.0, 0.0),  # sun, but the enable delay runs: stays off
    (30, 10.0, None),
    (59, 10.0, None),
    (60, 10.0, 10.0),  # a minute of sun: on
    (90, 3.0, 6.0),  # clouds: held at the minimum from the grid
    (200, 3.0, None),
    (250, 12.0, 12.0),  # the sun is back before the disable delay ran out: the pause is forgotten
    (300, 2.0, 6.0),
    (479, 2.0, None),
    (480, 2.0, 0.0),  # three minutes short: paused
    (500, 7.0, None),  # a short gleam does not restart it
    (559, 7.0, None),
    (560, 7.0, 7.0),
]


async def test_enable_and_disable_delays() -> None:
    ports, clock = Ports(), Clock()
    scheduler = make(ports, clock, DELAYS)
    await start(scheduler, "A", 1)
    t0 = clock.now
    for at_s, green_a, expected in ENABLE_DISABLE:
        clock.now = t0 + at_s
        ports.green_w = green_a * W3
        before = len(ports.sent)
        await scheduler.run_once()
        if expected is None:
            assert len(ports.sent) == before, f"at {at_s} s"
        else:
            assert ports.last("A") == pytest.approx(expected), f"at {at_s} s"


async def test_without_delays_the_scheduler_follows_the_sun_at_once() -> None:
    ports, clock = Ports(), Clock()
    scheduler = make(ports, clock, HysteresisSettings())
    await start(scheduler, "A", 1)
    ports.green_w = 10 * W3
    await scheduler.run_once()
    assert ports.last("A") == 10.0
    ports.green_w = 3 * W3
    await scheduler.run_once()
    assert ports.last("A") == 0.0


async def test_a_charging_session_keeps_its_place_against_a_newcomer() -> None:
    # B charges; A (earlier key, so first in admission order) arrives; there is green for one only
    ports, clock = Ports(), Clock()
    scheduler = make(ports, clock, DELAYS)
    await start(scheduler, "B", 2)
    ports.green_w = 9 * W3
    clock.now += 60
    await scheduler.run_once()
    clock.now += 60
    await scheduler.run_once()
    assert ports.last("B") == 9.0
    await start(scheduler, "A", 1)
    for _ in range(10):
        clock.now += 60
        await scheduler.run_once()
    assert ports.last("B") == 9.0
    assert ports.last("A") in (None, 0.0)


async def test_stale_telemetry_pauses_at_once_despite_the_disable_delay() -> None:
    ports, clock = Ports(), Clock()
    scheduler = make(ports, clock, DELAYS)
    await start(scheduler, "A", 1)
    ports.green_w = 10 * W3
    await scheduler.run_once()
    clock.now += 60
    await scheduler.run_once()
    assert ports.last("A") == 10.0
    ports.green_w = float("nan")
    clock.now += 1
    await scheduler.run_once()
    assert ports.last("A") == 0.0


async def test_raises_are_rate_limited_cuts_are_not() -> None:
    ports, clock = Ports(), Clock()
    scheduler = make(ports, clock, HysteresisSettings(min_update_interval_s=30.0))
    await start(scheduler, "A", 1)
    steps = [  # (seconds, green A, expected last limit)
        (0, 8.0, 8.0),
        (10, 12.0, 8.0),  # a raise 10 s after the last one waits
        (29, 12.0, 8.0),
        (30, 12.0, 12.0),
        (31, 7.0, 7.0),  # a cut goes out at once
        (32, 16.0, 7.0),
        (60, 16.0, 16.0),
    ]
    t0 = clock.now
    for at_s, green_a, expected in steps:
        clock.now = t0 + at_s
        ports.green_w = green_a * W3
        await scheduler.run_once()
        assert ports.last("A") == expected, f"at {at_s} s"


async def test_phase_switching_down_and_up_with_a_hold() -> None:
    ports, clock = Ports(), Clock()
    scheduler = make(
        ports, clock, HysteresisSettings(phase_switch_hold_s=600.0), A=ChargerSpec("s", phase_switching=True)
    )
    await start(scheduler, "A", 1)
    ports.green_w = 2300.0  # enough for 10 A on one phase, not for 6 A on three
    await scheduler.run_once()
    assert ports.switched == [("A", 1)]
    assert ports.last("A") == pytest.approx(10.0)
    ports.green_w = 10 * W3  # plenty again, but the last switch is recent: stay on one phase, at its maximum
    clock.now += 60
    await scheduler.run_once()
    assert ports.switched == [("A", 1)]
    assert ports.last("A") == 16.0
    clock.now += 600
    await scheduler.run_once()
    assert ports.switched == [("A", 1), ("A", 3)]
    assert ports.last("A") == pytest.approx(10.0)


async def test_departure_target_waits_for_forecast_sun_then_commits_to_the_grid() -> None:
    ports, clock = Ports(), Clock()
    scheduler = make(ports, clock, HysteresisSettings())
    await start(scheduler, "A", 1, meter_start_wh=1000.0)
    ports.forecast_wh = 10 * W3  # the sun should bring all of it before the departure: wait for it
    assert scheduler.set_target("A", 1, energy_wh=8 * W3, departure_s=clock.now + 3600)
    await scheduler.run_once()
    assert ports.last("A") == 0.0
    ports.forecast_wh = 2 * W3  # clouds in the forecast: the grid must help, 8 A steady meets it
    clock.now += 60
    await scheduler.run_once()
    assert ports.last("A") == pytest.approx(8 * W3 * 3600 / 3540 / W3)
    ports.forecast_wh = 10 * W3  # the forecast improves again: no going back (no start/pause flapping)
    clock.now += 60
    await scheduler.run_once()
    assert ports.last("A") == pytest.approx(8 * W3 * 3600 / 3540 / W3, abs=0.5)
    await scheduler.on_event(MeterSample("A", 1, 1, T, energy_wh=1000.0 + 4 * W3))  # half delivered
    clock.now = clock.now - 120 + 1800
    ports.green_w = 12 * W3
    await scheduler.run_once()
    assert ports.last("A") == pytest.approx(12.0)  # sun on top of the plan
    ports.green_w = 0.0
    await scheduler.run_once()
    assert ports.last("A") == pytest.approx(8.0)
    assert not scheduler.set_target("Z", 1, 1.0, 0.0)


async def test_a_met_target_yields_to_sessions_that_still_need_energy() -> None:
    ports, clock = Ports(), Clock()
    scheduler = make(ports, clock, HysteresisSettings())
    await start(scheduler, "A", 1)
    await start(scheduler, "B", 2)
    scheduler.set_target("A", 1, energy_wh=1000.0, departure_s=clock.now + 3600)
    await scheduler.on_event(MeterSample("A", 1, 1, T, energy_wh=1500.0))  # done
    scheduler.set_target("B", 1, energy_wh=50_000.0, departure_s=clock.now + 36_000)
    ports.green_w = 16 * W3
    await scheduler.run_once()
    assert ports.last("B") == 16.0
    assert ports.last("A") == 0.0


async def test_small_cuts_are_sent_when_skipping_them_would_break_the_site_limit() -> None:
    ports, clock = Ports(), Clock()
    scheduler = Scheduler(
        sites={"s": Site("s", 20.0)},
        chargers={"A": ChargerSpec("s"), "B": ChargerSpec("s"), "C": ChargerSpec("s")},
        green_power_w=ports.green,
        send_limit=ports.send,
        publish_allocation=ports.publish,
        clock=clock,
        min_change_a=1.0,
    )
    await start(scheduler, "A", 1)
    await start(scheduler, "B", 2)
    ports.green_w = 50_000.0
    await scheduler.run_once()
    assert (ports.last("A"), ports.last("B")) == (10.0, 10.0)
    await start(scheduler, "C", 3)  # 20 A for three: 6.67 each; the cuts of 3.3 A go out anyway
    await scheduler.run_once()
    assert sum(ports.last(cp) or 0.0 for cp in "ABC") <= 20.0 + 1e-9
    scheduler.sites["s"] = Site("s", 19.5)  # a cut of 0.17 A each, below min_change_a, still goes out
    await scheduler.run_once()
    assert sum(ports.last(cp) or 0.0 for cp in "ABC") <= 19.5 + 1e-9


async def test_small_cuts_that_add_up_to_more_than_the_green_go_out() -> None:
    ports, clock = Ports(), Clock()
    chargers = {cp: ChargerSpec("s") for cp in "ABCDE"}
    scheduler = Scheduler(
        sites={"s": Site("s", 200.0)},
        chargers=chargers,
        green_power_w=ports.green,
        send_limit=ports.send,
        publish_allocation=ports.publish,
        clock=clock,
        min_change_a=1.0,
    )
    for tx, cp in enumerate("ABCDE", start=1):
        await start(scheduler, cp, tx)
    ports.green_w = 5 * 10 * W3
    await scheduler.run_once()
    assert [ports.last(cp) for cp in "ABCDE"] == [10.0] * 5
    # one cut of 0.8 A is below min_change_a and kept (it costs one session 0.8 A of grid at most) ...
    ports.green_w = (4 * 10 + 9.2) * W3
    await scheduler.run_once()
    assert sum(ports.last(cp) or 0.0 for cp in "ABCDE") == pytest.approx(50.0)
    # ... but 0.8 A off each of five sessions is 4 A of grid if kept: the cuts go out
    ports.green_w = 5 * 9.2 * W3
    await scheduler.run_once()
    assert sum(ports.last(cp) or 0.0 for cp in "ABCDE") == pytest.approx(46.0)


async def test_thresholds_need_green_to_spare_before_starting() -> None:
    ports, clock = Ports(), Clock()
    scheduler = make(ports, clock, HysteresisSettings(enable_delay_s=1.0, enable_threshold_w=1000.0))
    await start(scheduler, "A", 1)
    ports.green_w = 6 * W3 + 500  # enough for the minimum, not for the minimum and the threshold
    for _ in range(3):
        clock.now += 10
        await scheduler.run_once()
    assert ports.last("A") in (None, 0.0)
    ports.green_w = 6 * W3 + 1500
    for _ in range(2):
        clock.now += 10
        await scheduler.run_once()
    assert ports.last("A") == pytest.approx(6 + 1500 / W3)


# -- the state machines alone ----------------------------------------------------------------


def test_gate_table() -> None:
    gate = OnOffGate(HysteresisSettings(enable_delay_s=10.0, disable_delay_s=20.0))
    table = [  # (now, wants, enabled, hold_on)
        (0, True, False, False),
        (9, True, False, False),
        (10, True, True, False),
        (15, False, True, True),
        (34, False, True, True),
        (35, False, False, False),
        (36, True, False, False),
        (37, False, False, False),  # the enable wait restarts from scratch
        (38, True, False, False),
        (48, True, True, False),
    ]
    for now, wants, enabled, hold in table:
        decision = gate.decide("k", wants, now)
        assert (decision.enabled, decision.hold_on) == (enabled, hold), f"at {now}"
    gate.force_off("k")
    assert not gate.is_on("k")


def test_limiter() -> None:
    limiter = UpdateLimiter(HysteresisSettings(min_update_interval_s=5.0))
    assert limiter.may_send("k", None, 10.0, 0.0)
    limiter.sent("k", None, 10.0, 0.0)
    assert not limiter.may_send("k", 10.0, 11.0, 4.9)
    assert limiter.may_send("k", 10.0, 9.0, 4.9)
    assert limiter.may_send("k", 10.0, 11.0, 5.0)


async def test_a_departure_plan_that_needs_the_grid_skips_the_enable_delay() -> None:
    ports, clock = Ports(), Clock()
    scheduler = make(ports, clock, DELAYS)
    await start(scheduler, "A", 1)
    scheduler.set_target("A", 1, energy_wh=8 * W3, departure_s=clock.now + 3600)
    await scheduler.run_once()
    assert ports.last("A") == pytest.approx(8.0)


async def test_a_forecast_is_trusted_only_while_full_power_keeps_a_margin() -> None:
    ports, clock = Ports(), Clock()
    scheduler = make(ports, clock, HysteresisSettings())
    await start(scheduler, "A", 1)
    ports.forecast_wh = 100 * W3  # plenty of sun expected...
    # ...but 14 A for an hour is 88 % of what the charger can deliver at 16 A: no waiting
    scheduler.set_target("A", 1, energy_wh=14 * W3, departure_s=clock.now + 3600)
    await scheduler.run_once()
    assert ports.last("A") == pytest.approx(14.0)
