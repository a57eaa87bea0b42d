"""`coopgrid demo`: the whole platform embedded, with simulated hardware.

Two solar parks of three inverters (real weather from pvlib's bundled TMY
file), four simulated OCPP 1.6 chargers on two sites, EVs arriving over the
day. The depot has a SunSpec grid meter on Modbus TCP (a pymodbus simulator
on loopback: the building's load, with steps, plus what its chargers draw):
its chargers get what the depot's fuse leaves. Prints the URLs, then one
line per second: solar power, EV power and the green share.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from gateway.api.energy import cooperative_period
from gateway.platform import Platform, supervise
from gateway.settings import Settings, load_settings
from simulators.chargepoint import EVArrival, SimulatedChargePoint
from simulators.clock import SimClock
from simulators.inverter import SimulatedPark
from simulators.modbus import LoadStep, SiteLoad, SunSpecMeter, free_port
from smartgrid.ledger import green_share_now

DEMO_TAG = "DEMO-TAG"
# A clear late-morning in the bundled Greensboro TMY year (timestamps in UTC).
DEMO_START = datetime(1990, 6, 14, 14, 0, tzinfo=UTC)


METERED_SITE = "site-depot"


def depot_meter(port: int) -> dict[str, Any]:
    """The depot's grid meter: SunSpec over Modbus TCP, polled every second."""
    return {"layout": "sunspec", "host": "127.0.0.1", "port": port, "interval_s": 1.0, "timeout_s": 5.0}


def depot_load(clock: SimClock) -> SiteLoad:
    """The depot building: 4 A a phase, and a 10 A machine on L1 for 10 minutes every half hour."""
    steps = [LoadStep(at, 0, 10.0, 600.0) for at in range(900, 24 * 3600, 1800)]
    return SiteLoad(clock, base_a=(4.0, 4.0, 4.0), steps=steps)


def demo_settings(database_url: str, port: int = 8080, meter_port: int | None = None, **overrides: Any) -> Settings:
    depot: dict[str, Any] = {"id": METERED_SITE, "name": "Depot", "grid_limit_a": 32.0, "cooperative_id": "coop-sun"}
    if meter_port is not None:
        depot["meter"] = depot_meter(meter_port)
    return load_settings(
        http={"host": "127.0.0.1", "port": port, "auth": False},  # loopback only, for trying it out
        database={"url": database_url},
        scheduler={"tick_s": 2.0, "debounce_s": 0.2},
        solar={"stale_after_s": 10.0},
        sites=[
            depot,
            {"id": "site-village", "name": "Village hall", "grid_limit_a": 25.0, "cooperative_id": "coop-sun"},
        ],
        chargers=[
            {"id": "CP-1", "site_id": "site-depot"},
            {"id": "CP-2", "site_id": "site-depot"},
            {"id": "CP-3", "site_id": "site-village"},
            {"id": "CP-4", "site_id": "site-village"},
        ],
        cooperatives=[
            {
                "id": "coop-sun",
                "name": "Sun Valley Energy Cooperative",
                "members": [
                    {"id": "farm-alder", "name": "Alder farm"},
                    {"id": "farm-birch", "name": "Birch farm"},
                ],
            }
        ],
        parks=[
            {
                "id": "park-alder",
                "member_id": "farm-alder",
                "inverters": [{"id": f"inv-{i}", "rated_power_w": 5000.0} for i in (1, 2, 3)],
            },
            {
                "id": "park-birch",
                "member_id": "farm-birch",
                "inverters": [{"id": f"inv-{i}", "rated_power_w": 4000.0} for i in (1, 2, 3)],
            },
        ],
        id_tags=[{"id": DEMO_TAG, "status": "Accepted"}],
        **overrides,
    )


def demo_arrivals(index: int) -> list[EVArrival]:
    """A small, varied day: each charger sees EVs arrive at staggered times."""
    offset = 300.0 * index
    return [
        EVArrival(
            arrive_after_s=offset,
            battery_wh=60_000.0 + 10_000.0 * index,
            soc=0.2 + 0.05 * index,
            target_soc=0.9,
            max_power_w=11_000.0 if index % 2 == 0 else 7_400.0,
            stay_s=4 * 3600.0,
        ),
        EVArrival(
            arrive_after_s=offset + 5 * 3600.0,
            battery_wh=50_000.0,
            soc=0.3,
            target_soc=0.8,
            max_power_w=11_000.0,
            stay_s=3 * 3600.0,
        ),
    ]


def start_simulators(
    platform: Platform, group: asyncio.TaskGroup, clock: SimClock, meter: SunSpecMeter | None = None
) -> tuple[list[SimulatedChargePoint], list[SimulatedPark]]:
    chargers = [
        SimulatedChargePoint(
            charger.id,
            platform.ocpp_url,
            clock=clock,
            id_tag=DEMO_TAG,
            meter_interval_s=60.0,
            ev_plan=demo_arrivals(index),
            seed=index,
        )
        for index, charger in enumerate(platform.settings.chargers)
    ]
    parks = [
        SimulatedPark(
            park.id,
            [inv.id for inv in park.inverters],
            mqtt_host=platform.mqtt_host,
            mqtt_port=platform.mqtt_port,
            clock=clock,
            rated_power_w=park.inverters[0].rated_power_w,
            prefix=platform.settings.mqtt.prefix,
            publish_interval_s=1.0,
        )
        for park in platform.settings.parks
    ]
    for sim in chargers:
        group.create_task(sim.run(), name=f"sim-{sim.id}")
    at_depot = [sim for sim, c in zip(chargers, platform.settings.chargers, strict=True) if c.site_id == METERED_SITE]
    if meter is not None:  # the meter sees the depot's chargers as they really draw (3-phase: on every phase)
        meter.chargers_a = lambda: (sum(sim.drawn_current_a() for sim in at_depot),) * 3
    for park in parks:
        group.create_task(park.run(), name=f"sim-{park.park_id}")
    return chargers, parks


def status_line(platform: Platform, clock: SimClock, elapsed_s: float) -> str:
    solar_w = platform.solar_power_w()
    ev_w = platform.ledger.ev_power_w()
    green = green_share_now(solar_w, ev_w)
    states = platform.central.states()
    connected = sum(1 for s in states if s.connected)
    charging = sum(1 for s in states for status in s.connectors.values() if status == "Charging")
    share = f"{green:4.0%}" if green is not None else "  - "
    fallback = platform.scheduler.meter_fallback(METERED_SITE)
    depot = "no meter" if fallback is None else ("static limit" if fallback else "meter")
    return (
        f"[{elapsed_s:5.0f}s sim {clock.now():%H:%M}Z] solar {solar_w / 1000:6.1f} kW | "
        f"EVs {ev_w / 1000:6.1f} kW | green {share} | "
        f"chargers {connected}/{len(states)} online, {charging} charging | depot: {depot}"
    )


async def print_day(platform: Platform, out: TextIO) -> None:
    """The cooperative's day so far per member (the report for the platform's today), and the sessions'
    green energy beside it: the two are the same energy, counted once by the green accounting."""
    await platform.energy.flush(final=True)  # every minute measured so far, closed and stored
    now = platform.clock()
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=1)
    for coop in platform.settings.cooperatives:
        report = await cooperative_period(platform.settings, platform.store, coop, start, end)
        print(f"{coop.name or coop.id}, {start:%Y-%m-%d} (simulated):", file=out)
        for member in report["members"]:
            print(
                f"  {member['name'] or member['id']:<24} generated {member['generated_kwh']:8.3f} kWh | "
                f"into EVs {member['to_evs_kwh']:8.3f} kWh | exported {member['exported_kwh']:8.3f} kWh",
                file=out,
            )
        print(
            f"  {'total':<24} generated {report['generated_kwh']:8.3f} kWh | "
            f"into EVs {report['to_evs_kwh']:8.3f} kWh | exported {report['exported_kwh']:8.3f} kWh",
            file=out,
        )
    sessions = [
        replace(record, meter_last_wh=newer) if (newer := platform.central.unflushed_register(record.id)) else record
        for record in await platform.store.list_transactions(started_from=start)
    ]  # the registers the chargers sent last, not yet written behind
    energy_wh = sum(record.energy_wh for record in sessions)
    green_wh = sum(platform.energy.green_energy_wh(record) for record in sessions)
    print(
        f"Sessions today: {len(sessions)}, {energy_wh / 1000:.3f} kWh, of it green {green_wh / 1000:.3f} kWh",
        file=out,
        flush=True,
    )


async def _report(
    platform: Platform, clock: SimClock, out: TextIO, duration_s: float | None, stop: asyncio.Event
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        while True:
            await asyncio.sleep(1.0)
            elapsed = loop.time() - started
            print(status_line(platform, clock, elapsed), file=out, flush=True)
            if duration_s is not None and elapsed >= duration_s:
                return
    finally:
        try:
            await print_day(platform, out)
        except Exception as exc:  # the database going away at shutdown must not hide the run's own outcome
            print(f"(the day could not be read: {exc})", file=out, flush=True)
        stop.set()


async def run_demo(
    stop: asyncio.Event,
    *,
    duration_s: float | None = None,
    speed: float = 60.0,
    port: int = 8080,
    out: TextIO = sys.stdout,
) -> None:
    clock = SimClock(DEMO_START, speed=speed)
    with tempfile.TemporaryDirectory(prefix="coopgrid-demo-") as tmp:
        async with SunSpecMeter(depot_load(clock), port=free_port()) as meter:
            settings = demo_settings(f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}", port=port, meter_port=meter.port)
            await _run(settings, clock, meter, stop, duration_s, speed, out)


async def _run(
    settings: Settings,
    clock: SimClock,
    meter: SunSpecMeter,
    stop: asyncio.Event,
    duration_s: float | None,
    speed: float,
    out: TextIO,
) -> None:
    def extra(platform: Platform, group: asyncio.TaskGroup) -> None:
        print(f"CoopGrid {platform.version} demo (simulated time x{speed:g})", file=out)
        print(f"  Dashboard  {platform.http_url}/", file=out)
        print(f"  REST API   {platform.http_url}/api/chargepoints  (docs: {platform.http_url}/api/docs)", file=out)
        print(f"  OCPP       {platform.ocpp_url}/{{charge_point_id}}", file=out)
        print(f"  MQTT       mqtt://{platform.mqtt_host}:{platform.mqtt_port}", file=out)
        print(f"  Metrics    {platform.http_url}/metrics", file=out)
        print(f"  Modbus     {METERED_SITE}'s grid meter (SunSpec) on {meter.host}:{meter.port}", file=out, flush=True)
        start_simulators(platform, group, clock, meter)
        group.create_task(_report(platform, clock, out, duration_s, stop), name="report")

    await supervise(settings, stop, extra=extra, clock=clock.now)
