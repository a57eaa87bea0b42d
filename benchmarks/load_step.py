"""Load step: a building load step on one phase, from the step to the phase being back under the fuse.

Starts `coopgrid serve` (SQLite, embedded broker) with one site: a 360 A fuse per phase, 20 three-phase
chargers of 16 A and a SunSpec grid meter (model 203) polled over Modbus TCP every `--interval` seconds.
In this process: the 20 simulated OCPP 1.6 chargers (simulators/chargepoint.py, each with an EV that takes
all 16 A, set to `fast` over REST), and the meter (simulators/modbus.py), which measures the building (30 A
per phase) plus what the chargers really draw. With all chargers at full power a phase carries 350 A; a
+40 A step on L1 takes it to 390 A. Each of `--steps` steps lasts `--step-s` seconds; the phase's real
current (building + the chargers' draw, sampled every 10 ms, not the meter's reading) gives the time until
it is back under the fuse and the seconds it spent above it, during the step and after it (when the
chargers are given their current back).

Beside it, over a day of load steps (a base load by the hour plus 30 seeded steps of +40 A on a random
phase, 5-20 min each), the static policy: its base load must cover the day's worst phase, so every
minute it gives the chargers what the fuse leaves after that worst case; the meter policy gives them what
the fuse leaves after the load of that minute. Both through the allocation core (smartgrid.allocation).

    .venv/bin/python benchmarks/load_step.py [--steps 50] [--interval 1.0] [--step-s 6]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ocpp_throughput import ROOT, free_port, stop, wait_port  # noqa: E402

from simulators.chargepoint import SimulatedChargePoint  # noqa: E402
from simulators.clock import SimClock  # noqa: E402
from simulators.ev import EVArrival  # noqa: E402
from simulators.modbus import SiteLoad, SunSpecMeter  # noqa: E402
from smartgrid.allocation import SessionDemand, Site, Snapshot, allocate  # noqa: E402

CHARGERS = 20
MAX_A = 16.0
FUSE_A = 360.0
BUILDING_A = 30.0
STEP_A = 40.0
VOLTS = 230.0
SAMPLE_S = 0.01


def config(meter_port: int, interval_s: float) -> str:
    lines = [
        'log_level = "WARNING"',
        "[scheduler]\ntick_s = 5.0\ndebounce_s = 0.2\nmin_change_a = 0.5",
        '[[id_tags]]\nid = "STEP-TAG"',
        f'[[sites]]\nid = "site-1"\ngrid_limit_a = {FUSE_A}\nbase_load_a = {BUILDING_A + STEP_A}\n'
        f'meter = {{ layout = "sunspec", host = "127.0.0.1", port = {meter_port}, interval_s = {interval_s}, '
        f"timeout_s = {max(5.0, 5 * interval_s)} }}",
    ]
    for index in range(CHARGERS):
        lines.append(f'[[chargers]]\nid = "CP-{index + 1}"\nsite_id = "site-1"\nmax_current_a = {MAX_A}')
    return "\n\n".join(lines) + "\n"


def drawn(chargers: list[SimulatedChargePoint]) -> float:
    return sum(cp.drawn_current_a() for cp in chargers)


async def fast_sessions(http: aiohttp.ClientSession, base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        async with http.get(f"{base}/api/sessions?active=true") as response:
            sessions = await response.json()
        if len(sessions) >= CHARGERS:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(sessions)} of {CHARGERS} sessions started")
        await asyncio.sleep(0.2)
    for session in sessions:
        url = f"{base}/api/sessions/{session['id']}/mode?chargepoint={session['charge_point_id']}"
        async with http.put(url, json={"mode": "fast"}) as response:
            if response.status != 200:
                raise SystemExit(f"mode not set: {response.status} {await response.text()}")


async def wait_full(chargers: list[SimulatedChargePoint], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if drawn(chargers) >= CHARGERS * MAX_A - 0.01:
            return True
        await asyncio.sleep(0.05)
    return False


async def one_step(
    load: SiteLoad, chargers: list[SimulatedChargePoint], step_s: float, after_s: float
) -> dict[str, float]:
    """A step on L1 for step_s; the phase sampled from the step until after_s after it ended."""
    start = time.monotonic()
    load.step(0, STEP_A, step_s)
    back_at: float | None = None
    above_during = above_after = 0.0
    last = start
    while (now := time.monotonic()) < start + step_s + after_s:
        phase = load.current_a()[0] + drawn(chargers)
        dt = now - last
        last = now
        over = phase > FUSE_A + 1e-6
        if now < start + step_s:
            if over:
                above_during += dt
            elif back_at is None:
                back_at = now - start
        elif over:
            above_after += dt
        await asyncio.sleep(SAMPLE_S)
    load.clear()
    return {"back_s": back_at if back_at is not None else float("inf"), "above_s": above_during, "after_s": above_after}


async def measure(
    args: argparse.Namespace, meter: SunSpecMeter, load: SiteLoad, url: str, http_base: str
) -> list[dict[str, float]]:
    clock = load.clock
    plan = [EVArrival(0.0, battery_wh=2_000_000.0, soc=0.05, target_soc=1.0, max_power_w=22_000.0, stay_s=1e7)]
    chargers = [
        SimulatedChargePoint(
            f"CP-{i + 1}", url, clock=clock, id_tag="STEP-TAG", meter_interval_s=args.charger_meter_s, ev_plan=plan
        )
        for i in range(CHARGERS)
    ]
    meter.chargers_a = lambda: (drawn(chargers),) * 3
    tasks = [asyncio.create_task(cp.run()) for cp in chargers]
    results: list[dict[str, float]] = []
    try:
        async with aiohttp.ClientSession() as http:
            await fast_sessions(http, http_base)
        if not await wait_full(chargers, 60):
            raise SystemExit(f"the chargers never reached full power ({drawn(chargers):.1f} A)")
        print(
            f"{CHARGERS} chargers at {drawn(chargers) / CHARGERS:.1f} A; "
            f"L1 at {load.current_a()[0] + drawn(chargers):.0f} A"
        )
        for index in range(args.steps):
            rng = random.Random(index)
            await asyncio.sleep(rng.uniform(0, args.interval))  # the step lands anywhere in the meter's cycle
            if args.verbose:
                async with aiohttp.ClientSession() as http, http.get(f"{http_base}/api/sites/site-1/allocation") as r:
                    print(await r.json(), flush=True)
            result = await one_step(load, chargers, args.step_s, args.after_s)
            if args.verbose:
                print(result, [round(cp.drawn_current_a(), 1) for cp in chargers], flush=True)
            results.append(result)
            if not await wait_full(chargers, 30):
                print(f"step {index + 1}: the chargers did not get back to full power", flush=True)
            if (index + 1) % 10 == 0:
                print(f"{index + 1} steps", flush=True)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return results


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- the static policy against the meter over a day of load steps --------------------------------------


def day_profile(seed: int = 7) -> list[tuple[float, float, float]]:
    """The building's current per phase, minute by minute over a day."""
    by_hour = [15.0] * 7 + [40.0] * 2 + [30.0] * 8 + [45.0] * 4 + [20.0] * 3
    rng = random.Random(seed)
    minutes = [[by_hour[m // 60] * f for f in (1.0, 0.9, 1.1)] for m in range(1440)]
    for _ in range(30):
        start, length, phase = rng.randrange(1440), rng.randint(5, 20), rng.randrange(3)
        for minute in range(start, min(1440, start + length)):
            minutes[minute][phase] += STEP_A
    return [(a, b, c) for a, b, c in minutes]


def charger_current(base_load_a: float) -> float:
    sessions = [SessionDemand(f"cp{i}/1", f"cp{i}", 1, "s", mode="fast", max_current_a=MAX_A) for i in range(CHARGERS)]
    points = allocate(Snapshot(0.0, {"s": Site("s", FUSE_A, base_load_a)}, sessions))
    return sum(p.limit_a for p in points.values())


def day_comparison() -> dict[str, float]:
    profile = day_profile()
    worst = max(max(minute) for minute in profile)
    static_a = charger_current(worst)
    meter_a = [charger_current(max(minute)) for minute in profile]
    to_kwh = 3 * VOLTS / 1000 / 60  # amperes per phase for a minute -> kWh
    return {
        "worst_a": worst,
        "static_kwh": static_a * len(profile) * to_kwh,
        "meter_kwh": sum(meter_a) * to_kwh,
        "unused_kwh": sum(m - static_a for m in meter_a) * to_kwh,
        "static_a": static_a,
        "meter_mean_a": statistics.mean(meter_a),
        "minutes_limited": sum(1 for m in meter_a if m < CHARGERS * MAX_A - 1e-6),
    }


def report(args: argparse.Namespace, results: list[dict[str, float]]) -> None:
    back = [r["back_s"] for r in results]
    above = [r["above_s"] for r in results]
    after = [r["after_s"] for r in results]
    target = args.interval + 1.0
    print(
        f"\nload step +{STEP_A:.0f} A on L1, {len(results)} times, meter interval {args.interval:g} s "
        f"(fuse {FUSE_A:.0f} A, L1 {BUILDING_A + CHARGERS * MAX_A:.0f} A -> "
        f"{BUILDING_A + STEP_A + CHARGERS * MAX_A:.0f} A)"
    )
    print(f"{'':28}{'p50':>8}{'p99':>8}{'max':>8}")
    print(f"{'back under the fuse, s':28}{statistics.median(back):8.2f}{percentile(back, 0.99):8.2f}{max(back):8.2f}")
    print(f"{'above the fuse, s':28}{statistics.median(above):8.2f}{percentile(above, 0.99):8.2f}{max(above):8.2f}")
    print(
        f"{'above after the step, s':28}{statistics.median(after):8.2f}{percentile(after, 0.99):8.2f}{max(after):8.2f}"
    )
    verdict = "met" if percentile(back, 0.99) <= target else "NOT met"
    print(f"target: p99 back under the fuse within {target:g} s (one meter interval + 1 s): {verdict}")
    day = day_comparison()
    per_day_s = 30 * statistics.mean(above)
    print(
        f"\na day of load steps (30 steps of +{STEP_A:.0f} A, 5-20 min; worst phase {day['worst_a']:.0f} A):\n"
        f"  static limit (base load {day['worst_a']:.0f} A): chargers at {day['static_a']:.0f} A all day, "
        f"{day['static_kwh']:.0f} kWh into EVs\n"
        f"  meter: chargers at {day['meter_mean_a']:.0f} A on average ({day['minutes_limited']} minutes below "
        f"{CHARGERS * MAX_A:.0f} A), {day['meter_kwh']:.0f} kWh into EVs\n"
        f"  the static limit leaves {day['unused_kwh']:.0f} kWh of the fuse unused "
        f"({day['unused_kwh'] / day['meter_kwh']:.0%} of what the meter gives); the meter's price: about "
        f"{per_day_s:.0f} s a day above the fuse (30 steps x the mean seconds above per step)"
    )


async def run(args: argparse.Namespace) -> list[dict[str, float]]:
    clock = SimClock(datetime(2026, 12, 2, 12, tzinfo=UTC), speed=1.0)
    load = SiteLoad(clock, base_a=(BUILDING_A,) * 3)
    async with SunSpecMeter(load) as meter:
        with tempfile.TemporaryDirectory() as tmp:
            http_port = free_port()
            (Path(tmp) / "load_step.toml").write_text(config(meter.port, args.interval), encoding="utf-8")
            env = {
                **os.environ,
                "COOPGRID_HTTP__PORT": str(http_port),
                "COOPGRID_HTTP__HOST": "127.0.0.1",
                "COOPGRID_HTTP__AUTH": "false",
                "COOPGRID_DATABASE__URL": f"sqlite+aiosqlite:///{tmp}/load_step.db",
            }
            server = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
                [sys.executable, "-m", "gateway.cli", "serve", "--config", f"{tmp}/load_step.toml"], env=env, cwd=ROOT
            )
            try:
                await asyncio.to_thread(wait_port, http_port)
                base = f"http://127.0.0.1:{http_port}"
                return await measure(args, meter, load, f"ws://127.0.0.1:{http_port}/ocpp", base)
            finally:
                stop(server)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--interval", type=float, default=1.0, help="meter polling interval, s")
    parser.add_argument("--step-s", type=float, default=6.0, help="how long each step lasts, s")
    parser.add_argument("--after-s", type=float, default=3.0, help="watched after each step ends, s")
    parser.add_argument("--charger-meter-s", type=float, default=10.0, help="the chargers' MeterValues interval, s")
    parser.add_argument("--verbose", action="store_true", help="the site's allocation before each step")
    args = parser.parse_args()
    results: list[Any] = asyncio.run(run(args))
    report(args, results)


if __name__ == "__main__":
    main()
