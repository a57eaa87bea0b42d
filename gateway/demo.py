"""`coopgrid demo`: the whole platform embedded, with simulated hardware.

Two solar parks of three inverters (real weather from pvlib's bundled TMY
file), four simulated OCPP 1.6 chargers on two sites, EVs arriving over the
day. The depot has a SunSpec grid meter on Modbus TCP (a pymodbus simulator
on loopback: the building's load, with steps, plus what its chargers draw):
its chargers get what the depot's fuse leaves. The village hall has a
simulated stationary battery on MQTT (native layout) that the planner
charges from the sun and gives to the EVs, and the day is planned on a
day-ahead price file written for the simulated day (cheap at noon, dear in
the evening). Prints the URLs, then one line per second: solar power, EV
power, the green share and the battery.
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
from simulators.battery import BatteryModel, SimulatedBattery
from simulators.chargepoint import EVArrival, SimulatedChargePoint
from simulators.clock import SimClock
from simulators.inverter import SimulatedPark
from simulators.modbus import LoadStep, SiteLoad, SunSpecMeter, free_port
from smartgrid.ledger import green_share_now

DEMO_TAG = "DEMO-TAG"
# A clear late-morning in the bundled Greensboro TMY year (timestamps in UTC).
DEMO_START = datetime(1990, 6, 14, 14, 0, tzinfo=UTC)


METERED_SITE = "site-depot"
BATTERY_SITE = "site-village"
DEMO_BATTERY: dict[str, Any] = {
    "id": "bat-village",
    "site_id": BATTERY_SITE,
    "capacity_kwh": 30.0,
    "power_kw": 10.0,
    "efficiency": 0.9,
    "soc_min": 0.1,
    "soc_max": 0.95,
    "soc_start": 0.4,
    "layout": "native",
}


def demo_prices(day: datetime) -> str:
    """A day-ahead price file for the simulated day and the next (EUR/kWh, hourly, UTC): cheap around
    the parks' noon (16-20 UTC in Greensboro), dear in the evening peak, moderate at night."""
    start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = ["timestamp,import_eur_per_kwh,export_eur_per_kwh"]
    for hour in range(48):
        local = (hour - 4) % 24  # Greensboro's summer time is UTC-4
        price = 0.12 if 10 <= local < 15 else 0.38 if 17 <= local < 21 else 0.22
        rows.append(f"{(start + timedelta(hours=hour)).strftime('%Y-%m-%dT%H:%M:%SZ')},{price:.2f},0.05")
    return "\n".join(rows) + "\n"


def depot_meter(port: int, speed: float = 1.0) -> dict[str, Any]:
    """The depot's grid meter: SunSpec over Modbus TCP, polled every second of wall time.

    The platform judges the meter's silence on its own clock, which in the demo runs `speed` times faster
    than the poll's: the timeout is five polls on that clock, or a meter that answers every second would be
    silent between two of its readings.
    """
    return {"layout": "sunspec", "host": "127.0.0.1", "port": port, "interval_s": 1.0, "timeout_s": 5.0 * speed}


def depot_load(clock: SimClock) -> SiteLoad:
    """The depot building: 4 A a phase, and a 10 A machine on L1 for 10 minutes every half hour."""
    steps = [LoadStep(at, 0, 10.0, 600.0) for at in range(900, 24 * 3600, 1800)]
    return SiteLoad(clock, base_a=(4.0, 4.0, 4.0), steps=steps)


def demo_settings(
    database_url: str,
    port: int = 8080,
    meter_port: int | None = None,
    prices_csv: Path | None = None,
    speed: float = 1.0,
    **overrides: Any,
) -> Settings:
    depot: dict[str, Any] = {"id": METERED_SITE, "name": "Depot", "grid_limit_a": 32.0, "cooperative_id": "coop-sun"}
    if meter_port is not None:
        depot["meter"] = depot_meter(meter_port, speed)
    planner: dict[str, Any] = {"prices_csv": str(prices_csv)} if prices_csv is not None else {}
    return load_settings(
        http={"host": "127.0.0.1", "port": port, "auth": False},  # loopback only, for trying it out
        database={"url": database_url},
        scheduler={"tick_s": 2.0, "debounce_s": 0.2},
        solar={"stale_after_s": 10.0},
        planner=planner,
        batteries=[DEMO_BATTERY],
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


def demo_battery(platform: Platform, clock: SimClock) -> SimulatedBattery:
    """The village hall's battery, as configured (starting where the planner's estimate starts), on the
    platform's broker."""
    config = next(b for b in platform.settings.batteries if b.id == DEMO_BATTERY["id"])
    power_w = config.power_kw * 1000.0
    model = BatteryModel(
        capacity_wh=config.capacity_kwh * 1000.0,
        max_charge_w=power_w,
        max_discharge_w=power_w,
        round_trip_efficiency=config.efficiency,
        soc=config.soc_start,
        soc_min=config.soc_min,
        soc_max=config.soc_max,
    )
    return SimulatedBattery(
        platform.mqtt_host,
        platform.mqtt_port,
        model,
        clock,
        battery_id=config.id,
        site_id=config.site_id,
        prefix=platform.settings.mqtt.prefix,
        publish_interval_s=5.0 / clock.speed,  # every 5 simulated seconds: well within its 30 s timeout
    )


def start_simulators(
    platform: Platform, group: asyncio.TaskGroup, clock: SimClock, meter: SunSpecMeter | None = None
) -> tuple[list[SimulatedChargePoint], list[SimulatedPark], SimulatedBattery]:
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
    battery = demo_battery(platform, clock)
    group.create_task(battery.run(), name=f"sim-{battery.battery_id}")
    return chargers, parks, battery


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
        f"chargers {connected}/{len(states)} online, {charging} charging | depot: {depot} | {battery_line(platform)}"
    )


def battery_line(platform: Platform) -> str:
    """The village battery as the platform sees it: its measured state of charge and power (+ charging)."""
    view = platform.battery_telemetry.view(str(DEMO_BATTERY["id"]))
    if view is None or not view["live"]:
        return "battery: no telemetry"
    return f"battery {view['soc']:4.0%} {(view['power_w'] or 0.0) / 1000:+5.1f} kW"


def plan_line(platform: Platform) -> str:
    """The planner's current plan for the battery's site: the prices it planned on, its cost, the battery."""
    current = platform.scheduler.plan
    site = current[0].sites.get(BATTERY_SITE) if current is not None else None
    if current is None or site is None:
        return f"Plan for {BATTERY_SITE}: none yet"
    plan = current[0]
    prices = site.import_eur_per_kwh or (0.0,)
    battery = plan.batteries.get(str(DEMO_BATTERY["id"]))
    planned = (
        f"battery {DEMO_BATTERY['id']} charges {sum(battery.charge_wh) / 1000:.1f} kWh, "
        f"gives {sum(battery.discharge_wh) / 1000:.1f} kWh"
        if battery is not None
        else "no battery planned"
    )
    return (
        f"Plan for {BATTERY_SITE}: {len(site.import_wh)} slots of {plan.slot_s / 60:.0f} min, import "
        f"{min(prices):.2f}-{max(prices):.2f} EUR/kWh, grid cost {site.cost_eur:.2f} EUR; {planned}"
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
    )
    print(plan_line(platform), file=out, flush=True)


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
        prices = Path(tmp) / "day-ahead.csv"
        prices.write_text(demo_prices(DEMO_START), encoding="utf-8")
        async with SunSpecMeter(depot_load(clock), port=free_port()) as meter:
            database = f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}"
            settings = demo_settings(database, port=port, meter_port=meter.port, prices_csv=prices, speed=speed)
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
        print(f"  Modbus     {METERED_SITE}'s grid meter (SunSpec) on {meter.host}:{meter.port}", file=out)
        print(f"  Battery    {DEMO_BATTERY['id']} at {BATTERY_SITE} (MQTT, native layout)", file=out)
        print(
            f"  Plan       {platform.http_url}/api/sites/{BATTERY_SITE}/plan (day-ahead prices)", file=out, flush=True
        )
        start_simulators(platform, group, clock, meter)
        group.create_task(_report(platform, clock, out, duration_s, stop), name="report")

    await supervise(settings, stop, extra=extra, clock=clock.now)
