"""The scheduler loop with in-memory ports (pure code around the allocation core)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from chargepoints.events import (
    ChargerConnected,
    ChargerDisconnected,
    MeterSample,
    TransactionStarted,
    TransactionStopped,
)
from smartgrid.allocation import Site
from smartgrid.ports import ChargerSpec
from smartgrid.scheduler import Scheduler

T = datetime(2026, 6, 1, 12, tzinfo=UTC)
W_PER_A = 3 * 230.0


class Ports:
    def __init__(self) -> None:
        self.green_w = 0.0
        self.sent: list[tuple[str, int, float, int | None]] = []
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.fail_for: set[str] = set()

    async def send(self, cp: str, connector: int, limit_a: float, tx: int | None) -> None:
        if cp in self.fail_for:
            raise ConnectionError("charger away")
        self.sent.append((cp, connector, limit_a, tx))

    async def publish(self, site_id: str, allocation: dict[str, Any]) -> None:
        self.published.append((site_id, allocation))


def make(ports: Ports, **kw: Any) -> Scheduler:
    return Scheduler(
        sites={"s": Site("s", 32.0)},
        chargers={"A": ChargerSpec("s"), "B": ChargerSpec("s")},
        green_power_w=lambda: ports.green_w,
        send_limit=ports.send,
        publish_allocation=ports.publish,
        clock=lambda: 0.0,
        **kw,
    )


async def start(s: Scheduler, cp: str, tx: int) -> None:
    await s.on_event(TransactionStarted(cp, 1, tx, "TAG", 0.0, T))


async def test_limits_follow_the_green_power_and_only_changes_are_sent() -> None:
    ports = Ports()
    scheduler = make(ports)
    await start(scheduler, "A", 1)
    ports.green_w = 10 * W_PER_A
    await scheduler.run_once()
    assert ports.sent == [("A", 1, 10.0, 1)]
    await scheduler.run_once()  # nothing changed: nothing sent
    assert len(ports.sent) == 1
    ports.green_w = 10.3 * W_PER_A  # below the 0.5 A threshold
    await scheduler.run_once()
    assert len(ports.sent) == 1
    ports.green_w = 3 * W_PER_A  # below the minimum: pause
    await scheduler.run_once()
    assert ports.sent[-1] == ("A", 1, 0.0, 1)
    assert ports.published[-1][1]["setpoints"][0]["limit_a"] == 0.0


async def test_unreadable_green_power_counts_as_zero() -> None:
    ports = Ports()

    def broken() -> float:
        raise RuntimeError("telemetry stale")

    scheduler = Scheduler(
        sites={"s": Site("s", 32.0)},
        chargers={"A": ChargerSpec("s")},
        green_power_w=broken,
        send_limit=ports.send,
        publish_allocation=ports.publish,
        clock=lambda: 0.0,
    )
    await start(scheduler, "A", 1)
    await scheduler.run_once()
    assert ports.sent == [("A", 1, 0.0, 1)]


async def test_failed_send_is_retried_next_run() -> None:
    ports = Ports()
    scheduler = make(ports)
    await start(scheduler, "A", 1)
    ports.green_w = 8 * W_PER_A
    ports.fail_for = {"A"}
    await scheduler.run_once()
    assert ports.sent == []
    ports.fail_for = set()
    await scheduler.run_once()
    assert ports.sent == [("A", 1, 8.0, 1)]


async def test_sessions_come_and_go_with_transactions_and_meter_values_reclaim() -> None:
    ports = Ports()
    scheduler = make(ports)
    await start(scheduler, "A", 1)
    await start(scheduler, "B", 2)
    ports.green_w = 24 * W_PER_A
    await scheduler.run_once()
    assert {(cp, limit) for cp, _, limit, _ in ports.sent} == {("A", 12.0), ("B", 12.0)}
    await scheduler.on_event(MeterSample("B", 1, 2, T, current_a=7.0))  # B's EV takes only 7 A
    await scheduler.run_once()
    assert ("A", 1, 16.0, 1) in ports.sent
    await scheduler.on_event(TransactionStopped("B", 2, 100.0, "Local", T))
    assert {d.key for d in scheduler.snapshot().sessions} == {"A/1"}
    await scheduler.on_event(ChargerDisconnected("A", T))
    before = len(ports.sent)
    await scheduler.run_once()  # gone: no limit for it
    assert len(ports.sent) == before
    await scheduler.on_event(ChargerConnected("A", "1.6", T))
    await scheduler.run_once()  # a reconnecting charger gets its limit again
    assert len(ports.sent) == before + 1


async def test_a_disconnected_charger_gets_no_limits_and_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="smartgrid.scheduler")
    ports = Ports()
    scheduler = make(ports)
    await start(scheduler, "A", 1)
    ports.green_w = 10 * W_PER_A
    await scheduler.on_event(ChargerDisconnected("A", T))
    for step in range(20):  # the sun moves while the charger is away
        ports.green_w = (8 + step % 3) * W_PER_A
        await scheduler.run_once()
    assert ports.sent == []
    lines = [r.getMessage() for r in caplog.records if "A" in r.getMessage()]
    assert len(lines) == 1, lines
    await scheduler.on_event(ChargerConnected("A", "1.6", T))
    await scheduler.run_once()
    assert len(ports.sent) == 1


async def test_a_limit_not_applied_is_logged_once_while_it_keeps_failing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="smartgrid.scheduler")
    ports = Ports()
    ports.fail_for.add("A")
    scheduler = make(ports)
    await start(scheduler, "A", 1)
    ports.green_w = 10 * W_PER_A
    for _ in range(10):
        await scheduler.run_once()
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


async def test_events_trigger_a_debounced_run() -> None:
    ports = Ports()
    scheduler = make(ports, debounce_s=0.01, tick_s=60.0)
    ports.green_w = 10 * W_PER_A
    task = asyncio.create_task(scheduler.run())
    try:
        await start(scheduler, "A", 1)
        for _ in range(100):
            if ports.sent:
                break
            await asyncio.sleep(0.01)
        assert ports.sent == [("A", 1, 10.0, 1)]
        assert scheduler.allocation("s") is not None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_unknown_chargers_are_not_scheduled() -> None:
    ports = Ports()
    scheduler = make(ports)
    await start(scheduler, "STRANGER", 9)
    ports.green_w = 50_000
    await scheduler.run_once()
    assert ports.sent == []
