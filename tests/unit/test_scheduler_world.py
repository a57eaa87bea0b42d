"""The scheduler's world changes while it runs: sites and chargers replaced from the store, sessions
adopted after a restart or a failover, the site's voltage used (issue 16)."""

from __future__ import annotations

from smartgrid.allocation import SessionDemand, Site, Snapshot, allocate
from smartgrid.ports import ChargerSpec
from smartgrid.scheduler import Scheduler
from tests.unit.test_scheduler import Ports, start


def make(ports: Ports, sites: dict[str, Site], chargers: dict[str, ChargerSpec]) -> Scheduler:
    return Scheduler(
        sites=sites,
        chargers=chargers,
        green_power_w=lambda: ports.green_w,
        send_limit=ports.send,
        publish_allocation=ports.publish,
        clock=lambda: 0.0,
    )


def test_allocation_uses_each_sites_voltage() -> None:
    demand = SessionDemand(
        key="A/1", charge_point_id="A", connector_id=1, site_id="us", phases=1, min_current_a=6.0,
        max_current_a=16.0, mode="fast",
    )  # fmt: skip
    points = allocate(Snapshot(0.0, {"us": Site("us", 32.0, voltage_v=120.0)}, [demand]))
    assert points["A/1"].limit_a == 16.0
    assert points["A/1"].power_w == 16.0 * 120.0
    # green power is turned into current at the site's voltage: 1,200 W at 120 V is 10 A
    green = SessionDemand(
        key="A/1", charge_point_id="A", connector_id=1, site_id="us", phases=1, min_current_a=6.0,
        max_current_a=16.0, mode="green",
    )  # fmt: skip
    points = allocate(Snapshot(1200.0, {"us": Site("us", 32.0, voltage_v=120.0)}, [green]))
    assert points["A/1"].limit_a == 10.0


async def test_a_charger_placed_after_its_session_started_is_scheduled() -> None:
    ports = Ports()
    scheduler = make(ports, {"s": Site("s", 32.0)}, {})
    await start(scheduler, "NEW", 7)  # registered on another instance: not in this world yet
    ports.green_w = 10 * 3 * 230.0
    await scheduler.run_once()
    assert ports.sent == []
    scheduler.set_chargers({"NEW": ChargerSpec("s")})
    await scheduler.run_once()
    assert ports.sent == [("NEW", 1, 10.0, 7)]


async def test_a_charger_moved_between_sites_follows() -> None:
    ports = Ports()
    sites = {"big": Site("big", 32.0), "small": Site("small", 8.0)}
    scheduler = make(ports, sites, {"A": ChargerSpec("big")})
    await start(scheduler, "A", 1)
    scheduler.set_mode("A", 1, "fast")
    await scheduler.run_once()
    assert ports.sent[-1][2] == 16.0
    scheduler.set_chargers({"A": ChargerSpec("small")})
    await scheduler.run_once()
    assert ports.sent[-1][2] == 8.0  # the small site's grid limit
    small, big = scheduler.allocation("small"), scheduler.allocation("big")
    assert small is not None
    assert big is not None
    assert [p["charge_point_id"] for p in small["setpoints"]] == ["A"]
    assert big["setpoints"] == []


async def test_a_site_changed_or_removed_in_the_store_applies() -> None:
    ports = Ports()
    scheduler = make(ports, {"s": Site("s", 32.0)}, {"A": ChargerSpec("s")})
    await start(scheduler, "A", 1)
    scheduler.set_mode("A", 1, "fast")
    await scheduler.run_once()
    scheduler.set_sites({"s": Site("s", 10.0, base_load_a=4.0)})
    await scheduler.run_once()
    assert ports.sent[-1][2] == 6.0
    scheduler.set_sites({})
    await scheduler.run_once()
    assert scheduler.allocation("s") is None
    assert not scheduler.scheduled("A")


async def test_an_adopted_session_keeps_its_mode_and_energy() -> None:
    ports = Ports()
    scheduler = make(ports, {"s": Site("s", 32.0)}, {"A": ChargerSpec("s")})
    scheduler.adopt(
        "A", 1, 42, meter_start_wh=1000.0, energy_wh=5000.0, mode="departure", target_wh=4500.0, departure_s=3600.0
    )
    await scheduler.run_once()
    # 500 Wh still wanted within the hour: a departure plan, not green only (no green power at all)
    assert ports.sent
    assert ports.sent[-1][3] == 42
    session = scheduler._sessions["A/1"]
    assert session.delivered_wh() == 4000.0
    assert (session.mode, session.target_wh) == ("departure", 4500.0)
    scheduler.adopt("A", 1, 42, meter_start_wh=1000.0, energy_wh=5000.0, mode="fast", priority=3)
    assert (session.mode, session.priority, session.target_wh) == ("fast", 3, None)
    scheduler.drop_others(set())
    assert scheduler._sessions == {}
