"""`coopgrid simulate ...`: the hardware simulators on their own, against any central system or broker.

    coopgrid simulate scenario FILE [--url ws://host:port/ocpp] [--mqtt host:port]
    coopgrid simulate chargers --url ws://host:port/ocpp [--count N] [--protocol 1.6|2.0.1|2.1|mixed]
                               [--faults drop=30,slow=2,dup=0.1,quirks=grizzl-e] [--lightweight]
    coopgrid simulate inverters --mqtt host:port [--parks N] [--inverters M] [--layout native|opendtu|tasmota]
    coopgrid simulate batteries --mqtt host:port [--layout native|victron|both] [--battery ID] [--site ID]
                                [--capacity-kwh 20] [--power-kw 5] [--soc 0.5]
    coopgrid simulate modbus [--inverter-port P] [--meter-port P] [--meter sunspec|sdm630] [--meter-model 203]
                             [--base-load 10,10,10] [--step 40] [--step-phase 1] [--step-every 600] [--step-for 120]

Every command prints a progress line every few seconds and stops cleanly on
Ctrl-C or after `--duration` simulated seconds (scenarios: their own length).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from datetime import UTC, datetime
from datetime import time as dtime

from simulators.battery import BATTERY_LAYOUTS, BatteryModel, SimulatedBattery
from simulators.clock import SimClock
from simulators.ev import EVArrival
from simulators.faults import BRANDS, QUIRKS, Faults, FaultSpecError
from simulators.fleet import Fleet
from simulators.inverter import LAYOUTS, WEATHER_FILES, sunrise
from simulators.light import LightFleet
from simulators.scenario import Scenario, ScenarioError

EXAMPLE_DAY = datetime(1990, 6, 14, tzinfo=UTC)


def _say(line: str) -> None:
    print(line, flush=True)


def _host_port(value: str) -> tuple[str, int]:
    value = value.removeprefix("mqtt://")
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r}: expected host:port, e.g. 127.0.0.1:1883")
    return host.strip("[]"), int(port)


def _faults(value: str) -> Faults:
    try:
        return Faults.parse(value)
    except FaultSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _day(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a date such as 1990-06-14") from exc


EXAMPLES = {
    "scenario": """examples:
  coopgrid simulate scenario simulators/scenarios/sunny-saturday.toml --url ws://127.0.0.1:8080/ocpp
  coopgrid simulate scenario day.toml --mqtt 127.0.0.1:1883 --speed 600 --duration 7200
""",
    "chargers": """examples:
  coopgrid simulate chargers --url ws://127.0.0.1:8080/ocpp --count 10 --protocol mixed
  coopgrid simulate chargers --faults drop=30,slow=2,dup=0.1,quirks=grizzl-e --count 3
  coopgrid simulate chargers --lightweight --count 10000 --url ws://127.0.0.1:8080/ocpp
""",
    "simulate": """examples:
  coopgrid simulate chargers --url ws://127.0.0.1:8080/ocpp --count 4 --speed 120
  coopgrid simulate inverters --mqtt 127.0.0.1:1883 --parks 2 --layout opendtu
  coopgrid simulate scenario simulators/scenarios/sunny-saturday.toml
""",
    "modbus": """examples:
  coopgrid simulate modbus --inverter-port 1502 --meter-port 1503 --meter sunspec
  coopgrid simulate modbus --inverter-port 0 --meter sdm630 --step 40 --step-phase 2 --step-every 300
""",
    "batteries": """examples:
  coopgrid simulate batteries --mqtt 127.0.0.1:1883 --battery bat-depot --site site-depot --capacity-kwh 60
  coopgrid simulate batteries --layout victron --portal c0ffee000001 --instance 512 --soc 0.8
""",
    "inverters": """examples:
  coopgrid simulate inverters --mqtt 127.0.0.1:1883 --parks 2 --inverters 3        # from sunrise
  coopgrid simulate inverters --layout opendtu --parks 2 --day 1990-06-14 --start-hour 15 --clouds 0.3
""",
}


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name, help=help, epilog=EXAMPLES[name], formatter_class=argparse.RawDescriptionHelpFormatter
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coopgrid simulate",
        description=__doc__,
        epilog=EXAMPLES["simulate"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every reconnect and protocol error")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="scenario|chargers|inverters|batteries|modbus"
    )

    scenario = _command(commands, "scenario", help="run a scenario file (TOML)")
    scenario.add_argument("file")
    scenario.add_argument("--url", help="central system, overrides the file (ws://host:port/ocpp)")
    scenario.add_argument("--mqtt", type=_host_port, help="broker host:port, overrides the file")
    scenario.add_argument("--speed", type=float, help="simulated seconds per real second, overrides the file")
    scenario.add_argument("--duration", type=float, help="simulated seconds, overrides the file")

    chargers = _command(commands, "chargers", help="simulated OCPP charge points")
    chargers.add_argument("--url", default="ws://127.0.0.1:8080/ocpp", help="central system (default %(default)s)")
    chargers.add_argument("--count", type=int, default=4)
    chargers.add_argument("--prefix", default="SIM-", help="charger ids are PREFIX1, PREFIX2, ...")
    chargers.add_argument("--protocol", choices=("1.6", "2.0.1", "2.1", "mixed"), default="1.6")
    chargers.add_argument("--connectors", type=int, default=1)
    chargers.add_argument("--phases", type=int, choices=(1, 3), default=3)
    chargers.add_argument("--max-current", type=float, default=16.0, help="amperes per phase")
    chargers.add_argument("--vendor", default="CoopGrid")
    chargers.add_argument("--model", default="SimCP")
    chargers.add_argument("--id-tag", default="DEMO-TAG")
    chargers.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second")
    chargers.add_argument("--ev-every-h", type=float, default=4.0, help="an EV plugs in every so many hours")
    chargers.add_argument("--duration", type=float, help="simulated seconds to run (default: until Ctrl-C)")
    chargers.add_argument(
        "--faults",
        type=_faults,
        default=Faults(),
        help=f"drop=S,slow=S,dup=F,quirks=a+b,reject-profiles; quirks: {', '.join(QUIRKS)}; "
        f"brands: {', '.join(BRANDS)}",
    )
    chargers.add_argument(
        "--lightweight", action="store_true", help="thousands of minimal 1.6 chargers in one process (load tests)"
    )
    chargers.add_argument("--meter-every", type=float, default=30.0, help="lightweight: real seconds between meters")

    inverters = _command(commands, "inverters", help="simulated PV parks publishing over MQTT")
    inverters.add_argument("--mqtt", type=_host_port, default=("127.0.0.1", 1883), help="broker host:port")
    inverters.add_argument("--prefix", default="coopgrid", help="topic prefix of the native layout")
    inverters.add_argument("--parks", type=int, default=1)
    inverters.add_argument("--inverters", type=int, default=3, help="inverters per park")
    inverters.add_argument("--rated-w", type=float, default=5000.0)
    inverters.add_argument("--layout", choices=LAYOUTS, default="native")
    inverters.add_argument("--location", choices=sorted(WEATHER_FILES), default="greensboro")
    inverters.add_argument("--day", type=_day, default=EXAMPLE_DAY, help="day of the TMY year (default 1990-06-14)")
    inverters.add_argument(
        "--start-hour", type=float, default=None, help="UTC hour to start at (default: sunrise at --location)"
    )
    inverters.add_argument("--module", help="CEC module name from pvlib's database")
    inverters.add_argument("--inverter", dest="inverter_model", help="CEC inverter name from pvlib's database")
    inverters.add_argument("--clouds", type=float, default=0.0, help="cloud transients, 0..1")
    inverters.add_argument("--speed", type=float, default=60.0)
    inverters.add_argument("--interval", type=float, default=1.0, help="real seconds between publications")
    inverters.add_argument("--duration", type=float, help="simulated seconds to run (default: until Ctrl-C)")

    modbus = _command(commands, "modbus", "a SunSpec inverter and a grid meter as Modbus TCP servers (loopback)")
    modbus.add_argument("--inverter-port", type=int, default=1502, help="0: no inverter")
    modbus.add_argument("--inverter-model", type=int, choices=(101, 102, 103, 701), default=103)
    modbus.add_argument("--rated-w", type=float, default=5000.0)
    modbus.add_argument("--location", choices=sorted(WEATHER_FILES), default="greensboro")
    modbus.add_argument("--meter-port", type=int, default=1503, help="0: no meter")
    modbus.add_argument("--meter", choices=("sunspec", "sdm630"), default="sunspec")
    modbus.add_argument("--meter-model", type=int, choices=(201, 202, 203, 204), default=203)
    modbus.add_argument("--base-load", type=_phases, default=(10.0, 10.0, 10.0), help="amperes per phase, L1,L2,L3")
    modbus.add_argument("--step", type=float, default=40.0, help="a building load step, amperes (0: none)")
    modbus.add_argument("--step-phase", type=int, choices=(1, 2, 3), default=1)
    modbus.add_argument("--step-every", type=float, default=600.0, help="simulated seconds between steps")
    modbus.add_argument("--step-for", type=float, default=120.0, help="simulated seconds each step lasts")
    modbus.add_argument("--day", type=_day, default=EXAMPLE_DAY, help="day of the TMY year (default 1990-06-14)")
    modbus.add_argument("--start-hour", type=float, default=12.0, help="UTC hour to start at")
    modbus.add_argument("--speed", type=float, default=1.0)
    modbus.add_argument("--duration", type=float, help="simulated seconds to run (default: until Ctrl-C)")
    _add_batteries(commands)
    return parser


def _add_batteries(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    batteries = _command(commands, "batteries", help="a simulated stationary battery following setpoints over MQTT")
    batteries.add_argument("--mqtt", type=_host_port, default=("127.0.0.1", 1883), help="broker host:port")
    batteries.add_argument("--prefix", default="coopgrid", help="topic prefix of the native layout")
    batteries.add_argument("--layout", choices=BATTERY_LAYOUTS, default="native")
    batteries.add_argument("--battery", default="bat-1", help="its id (native topics)")
    batteries.add_argument("--site", default="site-a", help="its site's id (native topics)")
    batteries.add_argument("--portal", default="c0ffee000001", help="victron: the portal id in N/<portal>/...")
    batteries.add_argument("--instance", type=int, default=512, help="victron: the battery's device instance")
    batteries.add_argument("--vebus", type=int, default=276, help="victron: the VE.Bus instance of the setpoints")
    batteries.add_argument("--capacity-kwh", type=float, default=20.0)
    batteries.add_argument("--power-kw", type=float, default=5.0, help="charge and discharge limit, AC side")
    batteries.add_argument("--efficiency", type=float, default=0.9, help="round trip")
    batteries.add_argument("--soc", type=float, default=0.5, help="state of charge at the start, 0..1")
    batteries.add_argument("--soc-min", type=float, default=0.05)
    batteries.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    batteries.add_argument("--interval", type=float, default=1.0, help="real seconds between publications")
    batteries.add_argument("--duration", type=float, help="simulated seconds to run (default: until Ctrl-C)")


async def _batteries(args: argparse.Namespace) -> None:
    host, port = args.mqtt
    model = BatteryModel(
        capacity_wh=args.capacity_kwh * 1000.0,
        max_charge_w=args.power_kw * 1000.0,
        max_discharge_w=args.power_kw * 1000.0,
        round_trip_efficiency=args.efficiency,
        soc=args.soc,
        soc_min=min(args.soc_min, args.soc),
    )
    battery = SimulatedBattery(
        host,
        port,
        model,
        SimClock(datetime.now(UTC), speed=args.speed),
        battery_id=args.battery,
        site_id=args.site,
        layout=args.layout,
        prefix=args.prefix,
        portal=args.portal,
        instance=args.instance,
        vebus_instance=args.vebus,
        publish_interval_s=args.interval,
    )
    where = battery.native_base if args.layout != "victron" else ""
    if args.layout != "native":
        where = f"{where} {battery.victron_base}".strip()
    _say(f"battery {args.battery} ({args.layout}) -> mqtt://{host}:{port}: {where}")
    try:
        await battery.run(args.duration)
    finally:
        _say(
            f"battery {args.battery}: state of charge {model.soc:.3f}, {battery.setpoints} setpoint(s) followed, "
            f"{battery.refused} refused, {model.charged_wh:.0f} Wh in, {model.discharged_wh:.0f} Wh out"
        )


def _phases(value: str) -> tuple[float, float, float]:
    try:
        parts = [float(v) for v in value.split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: expected three amperes, e.g. 10,12.5,8") from exc
    if len(parts) != 3 or any(p < 0 for p in parts):
        raise argparse.ArgumentTypeError(f"{value!r}: expected three amperes >= 0, e.g. 10,12.5,8")
    return parts[0], parts[1], parts[2]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        if args.command == "scenario":
            work = _scenario(args)
        elif args.command == "chargers":
            work = _light(args) if args.lightweight else _chargers(args)
        elif args.command == "modbus":
            work = _modbus(args)
        elif args.command == "batteries":
            work = _batteries(args)
        else:
            work = _inverters(args)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(work)
    except (ScenarioError, ValueError) as exc:
        print(f"coopgrid simulate: {exc}", file=sys.stderr)
        return 2
    return 0


async def _scenario(args: argparse.Namespace) -> None:
    scenario = Scenario.load(args.file)
    if args.speed:
        header = scenario.scenario.model_copy(update={"speed": args.speed})
        scenario = scenario.model_copy(update={"scenario": header})
    fleet = Fleet.from_scenario(scenario, url=args.url, mqtt=args.mqtt)
    duration = args.duration or fleet.duration_s or 0.0
    _say(
        f"scenario {fleet.name!r}: {len(fleet.chargers)} chargers, {len(fleet.parks)} parks, "
        f"{sum(len(c.ev_plan) for c in fleet.chargers)} EV arrivals, {duration / 3600:.1f} h at x{fleet.clock.speed:g}"
    )
    await fleet.run(duration, progress=_say)
    _summary(fleet)


async def _chargers(args: argparse.Namespace) -> None:
    clock = SimClock(datetime.now(UTC), speed=args.speed)
    every = args.ev_every_h * 3600.0

    def plan(index: int) -> list[EVArrival]:
        offset = (index * 600.0) % every
        horizon = args.duration or 7 * 86400.0
        return [EVArrival(arrive_after_s=offset + n * every) for n in range(int(horizon // every) + 1)]

    fleet = Fleet.of_chargers(
        args.url,
        args.count,
        clock=clock,
        prefix=args.prefix,
        protocol=args.protocol,
        faults=args.faults,
        plan=plan,
        connectors=args.connectors,
        phases=args.phases,
        max_current_a=args.max_current,
        vendor=args.vendor,
        model=args.model,
        id_tag=args.id_tag,
    )
    faults = f", faults {args.faults}" if args.faults.any else ""
    _say(f"{args.count} {args.protocol} chargers -> {args.url}{faults}")
    await fleet.run(args.duration, progress=_say)
    _summary(fleet)


async def _light(args: argparse.Namespace) -> None:
    fleet = LightFleet(args.url, args.count, prefix=args.prefix, id_tag=args.id_tag, meter_s=args.meter_every)
    _say(f"{args.count} lightweight 1.6 chargers -> {args.url}")
    started = time.monotonic()
    task = asyncio.create_task(fleet.run())
    try:
        while args.duration is None or time.monotonic() - started < args.duration:
            await asyncio.sleep(2.0)
            if task.done():
                task.result()
            stats, cost = fleet.stats, fleet.cost()
            errors = f", errors {dict(stats.errors)}" if stats.errors else ""
            _say(
                f"[{time.monotonic() - started:6.1f} s] {stats.connected}/{fleet.count} up, "
                f"{stats.transactions} transactions, {stats.calls} calls{errors}; simulator cost "
                f"{cost['rss_kib_per_charger']:.1f} KiB and {cost['cpu_percent_per_1000']:.2f} % CPU per 1,000 chargers"
            )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _inverters(args: argparse.Namespace) -> None:
    if args.start_hour is None:
        start = sunrise(args.day, args.location)
    else:
        hours = int(args.start_hour)
        start = datetime.combine(args.day.date(), dtime(hours, int((args.start_hour - hours) * 60)), tzinfo=UTC)
    clock = SimClock(start, speed=args.speed)
    host, port = args.mqtt
    rated = 0.0 if args.inverter_model and args.rated_w == 5000.0 else args.rated_w
    fleet = Fleet.of_parks(
        host,
        port,
        args.parks,
        args.inverters,
        clock=clock,
        rated_power_w=rated,
        prefix=args.prefix,
        publish_interval_s=args.interval,
        layout=args.layout,
        location=args.location,
        clouds=args.clouds,
        module=args.module,
        inverter_model=args.inverter_model,
    )
    _say(
        f"{args.parks} park(s) x {args.inverters} inverters ({args.layout}) -> mqtt://{host}:{port}, "
        f"{args.location} from {start:%Y-%m-%d %H:%M} UTC"
    )
    if args.layout != "native":  # what CoopGrid's configuration needs as each inverter's `topic`
        for park in fleet.parks:
            bases = ", ".join(f"{inv} {park.base_topic(inv)}" for inv in park.inverter_ids)
            _say(f"  {park.park_id}: adapter = {args.layout!r}, topic = {bases}")
    await fleet.run(args.duration, progress=_say)
    _summary(fleet)


async def _modbus(args: argparse.Namespace) -> None:
    from simulators.modbus import LoadStep, ModbusDevice, Sdm630Meter, SiteLoad, SunSpecInverter, SunSpecMeter

    hours = int(args.start_hour)
    start = datetime.combine(args.day.date(), dtime(hours, int((args.start_hour - hours) * 60)), tzinfo=UTC)
    clock = SimClock(start, speed=args.speed)
    horizon = args.duration or 7 * 86400.0
    steps = []
    if args.step > 0:
        at = args.step_every
        while at < horizon:
            steps.append(LoadStep(at, args.step_phase - 1, args.step, args.step_for))
            at += args.step_every
    devices: list[ModbusDevice] = []
    if args.inverter_port:
        devices.append(
            SunSpecInverter(
                clock,
                rated_power_w=args.rated_w,
                location=args.location,
                model=args.inverter_model,
                port=args.inverter_port,
            )
        )
        _say(f"SunSpec inverter (model {args.inverter_model}) on 127.0.0.1:{args.inverter_port}, unit 1")
    if args.meter_port:
        load = SiteLoad(clock, base_a=args.base_load, steps=steps)
        if args.meter == "sunspec":
            devices.append(SunSpecMeter(load, model=args.meter_model, port=args.meter_port))
        else:
            devices.append(Sdm630Meter(load, port=args.meter_port))
        _say(f"{args.meter} grid meter on 127.0.0.1:{args.meter_port}, unit 1, {len(steps)} load step(s)")
    async with contextlib.AsyncExitStack() as stack:
        for device in devices:
            await stack.enter_async_context(device)
        started = time.monotonic()
        while args.duration is None or clock.elapsed_s() < args.duration:
            await asyncio.sleep(min(5.0, max(0.05, (horizon - clock.elapsed_s()) / args.speed)))
            reads = ", ".join(f"{type(d).__name__} {d.reads} reads" for d in devices)
            _say(f"{time.monotonic() - started:.0f} s: {reads}")
    _say("done")


def _summary(fleet: Fleet) -> None:
    _say(fleet.summary_line())


if __name__ == "__main__":
    sys.exit(main())
