"""Planning time for many sessions and batteries (issue 17: at most 1 s for 500 sessions and 10 batteries).

Ten sites (3 x 250 A each), 500 sessions plugged in now or arriving over the next hours, departures 2-14 h
ahead, a mix of modes, ten 100 kWh batteries, a 36 h horizon in 15 min slots, a clear-sky-shaped forecast
at its 20 % quantile and an hourly price curve. Each plan is built and solved from scratch, as the
receding-horizon loop does.

Run: .venv/bin/python benchmarks/planner_scale.py [--sessions 500] [--batteries 10] [--runs 5]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smartgrid.planner import PlanBattery, PlanInput, PlanSession, PlanSite, conservative_forecast, plan  # noqa: E402


def scenario(sessions: int, batteries: int, slot_s: float, hours: float, seed: int) -> PlanInput:
    rng = random.Random(seed)
    slots = int(hours * 3600 / slot_s)
    sites = {f"site-{k}": PlanSite(f"site-{k}", 250.0, base_load_a=20.0) for k in range(10)}
    p50 = [
        max(0.0, 1_500_000 * math.sin(math.pi * ((t * slot_s / 3600 + 2) % 24 - 6) / 14))
        if 6 <= (t * slot_s / 3600 + 2) % 24 <= 20
        else 0.0
        for t in range(slots)
    ]
    price = [0.2 + 0.15 * math.sin(2 * math.pi * t * slot_s / 86400) for t in range(slots)]
    modes = ["departure"] * 6 + ["green"] * 2 + ["green_min", "fast"]
    plans = []
    for i in range(sessions):
        arrival = 0.0 if rng.random() < 0.6 else rng.uniform(0, 6) * 3600
        phases = 3 if rng.random() < 0.8 else 1
        plans.append(
            PlanSession(
                f"s{i}",
                f"site-{i % 10}",
                rng.uniform(5_000, 40_000),
                mode=rng.choice(modes),
                phases=phases,
                phase=rng.randint(1, 3),
                arrival_s=arrival,
                departure_s=arrival + rng.uniform(2, 14) * 3600,
            )
        )
    bats = [
        PlanBattery(f"b{k}", f"site-{k % 10}", 100_000, 50_000, 50_000, soc=0.5, soc_min=0.1) for k in range(batteries)
    ]
    return PlanInput(slot_s, conservative_forecast(p50, slot_s), sites, plans, bats, import_eur_per_kwh=price)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--batteries", type=int, default=10)
    parser.add_argument("--slot-s", type=float, default=900.0)
    parser.add_argument("--hours", type=float, default=36.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times, cpu = [], []
    for run in range(args.runs):
        problem = scenario(args.sessions, args.batteries, args.slot_s, args.hours, seed=run)
        started, started_cpu = time.perf_counter(), time.process_time()
        result = plan(problem)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        unmet = sum(s.shortfall_wh for s in result.sessions.values())
        print(
            f"run {run}: {1000 * times[-1]:7.1f} ms ({1000 * cpu[-1]:.0f} ms CPU), unmet targets {unmet / 1000:.1f} kWh"
        )
    print(
        f"{args.sessions} sessions, {args.batteries} batteries, {int(args.hours * 3600 / args.slot_s)} slots of"
        f" {args.slot_s:.0f} s: median {1000 * statistics.median(times):.0f} ms, max {1000 * max(times):.0f} ms;"
        f" CPU median {1000 * statistics.median(cpu):.0f} ms, max {1000 * max(cpu):.0f} ms (target <= 1000 ms)"
    )


if __name__ == "__main__":
    main()
