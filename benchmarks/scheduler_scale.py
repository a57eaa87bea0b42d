"""Allocation benchmark: CoopGrid's allocation core against the policies named in issue 7.

For 100, 1,000 and 10,000 sessions (100,000 with --huge) spread unevenly over
n/100 sites (busy and quiet ones, while the green is the cooperative's pool),
with mixed modes, 1- and 3-phase chargers, EVs that draw less than offered and
binding site limits, at three levels of sun, it prints side by side:

- time per allocation (median of repeated runs; the target is < 50 ms at 10k);
- green power routed into EVs, and as a ratio of the linear-programming optimum
  (HiGHS through scipy): the most green the EVs could take that instant under
  the same ceilings and site limits, with the 0-or-at-least-minimum rule
  relaxed, so an upper bound;
- violations: limits between 0 and the minimum, site limits exceeded.

Baselines (each one decision over the same snapshot):
- evcc-like: every site sees only its own park (the cooperative's green split
  evenly over the sites), and serves its chargers in priority order, each
  with the minimum first and then up to its maximum, pausing below the minimum.
- OpenEMS-like: every site splits its own surplus evenly: the minimum to each
  charger that fits, then an equal share of the rest.

Run: .venv/bin/python benchmarks/scheduler_scale.py [--huge] [--repeat N] [--no-lp]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smartgrid.allocation import SessionDemand, Site, Snapshot, allocate  # noqa: E402

V = 230.0
SESSIONS_PER_SITE = 100


def scenario(n: int, sun: float, seed: int = 7) -> Snapshot:
    """n sessions; sun is the green power as a fraction of what all sessions could take."""
    rng = random.Random(seed)
    n_sites = max(1, n // SESSIONS_PER_SITE)
    sessions = []
    for i in range(n):
        phases = 3 if rng.random() < 0.8 else 1
        mode = rng.choices(["green", "green_min", "fast", "departure"], [80, 10, 5, 5])[0]
        sessions.append(
            SessionDemand(
                key=f"cp{i:06d}/1",
                charge_point_id=f"cp{i:06d}",
                connector_id=1,
                site_id=f"site{min(n_sites - 1, int(n_sites * rng.random() ** 2)):04d}",  # busy and quiet sites
                phases=phases,
                max_current_a=rng.choice([16.0, 16.0, 32.0]),
                drawn_current_a=rng.choice([None, None, None, 10.0, 13.0]),
                mode=mode,
                priority=1 if rng.random() < 0.1 else 0,
                energy_needed_wh=rng.uniform(5_000, 40_000) if mode == "departure" else None,
                time_left_s=rng.uniform(3_600, 8 * 3_600) if mode == "departure" else None,
                phase_switching=rng.random() < 0.3,
            )
        )
    # site limits: room for about 70 % of their sessions at 16 A (at least one 32 A connection)
    count: dict[str, int] = {}
    for d in sessions:
        count[d.site_id] = count.get(d.site_id, 0) + 1
    sites = {}
    for s in range(n_sites):
        site_id = f"site{s:04d}"
        base = rng.uniform(0, 10)
        sites[site_id] = Site(
            site_id, grid_limit_a=max(32.0, count.get(site_id, 0) * 16.0 * 0.7) + base, base_load_a=base
        )
    potential_w = sum(d.max_current_a * d.phases * V for d in sessions)
    return Snapshot(green_power_w=sun * potential_w, sites=sites, sessions=sessions)


# -- baselines (one decision each, same snapshot) -------------------------------------------------


def _site_share(snapshot: Snapshot) -> dict[str, float]:
    return {site_id: snapshot.green_power_w / len(snapshot.sites) for site_id in snapshot.sites}


def _capacity(site: Site) -> float:
    return max(0.0, site.grid_limit_a - site.base_load_a)


def evcc_like(snapshot: Snapshot) -> dict[str, tuple[float, float]]:
    """Per-site surplus, chargers served in priority order (min first, then up to max). key -> (limit A, green W)."""
    by_site: dict[str, list[SessionDemand]] = {}
    for d in snapshot.sessions:
        by_site.setdefault(d.site_id, []).append(d)
    surplus = _site_share(snapshot)
    out: dict[str, tuple[float, float]] = {}
    for site_id, members in by_site.items():
        budget = surplus.get(site_id, 0.0)
        room = _capacity(snapshot.sites[site_id]) if site_id in snapshot.sites else 0.0
        for d in sorted(members, key=lambda d: (-d.priority, d.key)):
            w = d.phases * V
            if d.mode == "fast":
                limit = min(d.max_current_a, room)
            elif d.mode == "green_min":
                limit = min(d.max_current_a, room, max(d.min_current_a, budget / w))
            else:
                limit = min(d.max_current_a, room, budget / w)
            if limit < d.min_current_a:
                limit = 0.0
            green = min(budget, limit * w)
            budget -= green
            room -= limit
            out[d.key] = (limit, green)
    return out


def openems_like(snapshot: Snapshot) -> dict[str, tuple[float, float]]:
    """Per-site surplus split evenly: the minimum to each that fits, then equal shares."""
    by_site: dict[str, list[SessionDemand]] = {}
    for d in snapshot.sessions:
        by_site.setdefault(d.site_id, []).append(d)
    surplus = _site_share(snapshot)
    out: dict[str, tuple[float, float]] = {}
    for site_id, members in by_site.items():
        budget = surplus.get(site_id, 0.0)
        room = _capacity(snapshot.sites[site_id]) if site_id in snapshot.sites else 0.0
        on: list[SessionDemand] = []
        for d in sorted(members, key=lambda d: d.key):
            w = d.phases * V
            if d.min_current_a * w <= budget and d.min_current_a <= room:
                budget -= d.min_current_a * w
                room -= d.min_current_a
                on.append(d)
        extra_w = budget / len(on) if on else 0.0
        for d in members:
            out[d.key] = (0.0, 0.0)
        for d in on:
            w = d.phases * V
            add = min(d.max_current_a - d.min_current_a, extra_w / w, max(0.0, room))
            room -= add
            limit = d.min_current_a + add
            out[d.key] = (limit, limit * w)
    return out


def coopgrid(snapshot: Snapshot) -> dict[str, tuple[float, float]]:
    return {key: (p.limit_a, p.green_w) for key, p in allocate(snapshot).items()}


def lp_optimum(snapshot: Snapshot) -> float | None:
    """The most green power the EVs can take now (0-or-minimum relaxed): an upper bound. None without scipy."""
    try:
        import numpy as np
        from scipy.optimize import linprog
        from scipy.sparse import coo_matrix
    except ImportError:
        return None
    sessions = list(snapshot.sessions)
    n = len(sessions)
    site_index = {site_id: k for k, site_id in enumerate(snapshot.sites)}
    # variables: per-phase current x_i in [0, ceiling_i]; power_i = x_i * phases_i * V; green = sum power (<= G)
    ceilings = np.array([_ceiling(d) for d in sessions])
    watts = np.array([d.phases * V for d in sessions])
    rows, cols, vals = [], [], []
    for i, d in enumerate(sessions):
        rows.append(0)
        cols.append(i)
        vals.append(watts[i])
        if d.site_id in site_index:
            rows.append(1 + site_index[d.site_id])
            cols.append(i)
            vals.append(1.0)
    a_ub = coo_matrix((vals, (rows, cols)), shape=(1 + len(site_index), n)).tocsr()
    b_ub = np.array([snapshot.green_power_w] + [_capacity(s) for s in snapshot.sites.values()])
    bounds = np.column_stack([np.zeros(n), np.where([d.site_id in site_index for d in sessions], ceilings, 0.0)])
    result = linprog(-watts, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    return float(-result.fun) if result.status == 0 else None


def _ceiling(d: SessionDemand) -> float:
    if d.drawn_current_a is not None and d.drawn_current_a + 1.0 < d.max_current_a:
        return min(d.max_current_a, max(d.min_current_a, d.drawn_current_a + 1.0))
    return d.max_current_a


# -- measuring -----------------------------------------------------------------------------------


def timed(
    policy: Callable[[Snapshot], dict[str, tuple[float, float]]], snapshot: Snapshot, repeat: int
) -> tuple[float, dict[str, tuple[float, float]]]:
    times = []
    result: dict[str, tuple[float, float]] = {}
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        result = policy(snapshot)
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def violations(snapshot: Snapshot, result: dict[str, tuple[float, float]]) -> tuple[int, int]:
    below_min = sum(1 for d in snapshot.sessions if 0 < result[d.key][0] < d.min_current_a - 1e-6)
    per_site: dict[str, float] = {}
    for d in snapshot.sessions:
        per_site[d.site_id] = per_site.get(d.site_id, 0.0) + result[d.key][0]
    over = sum(1 for s, total in per_site.items() if total > _capacity(snapshot.sites[s]) + 1e-6)
    return below_min, over


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--huge", action="store_true", help="also 100,000 sessions (1,000 sites)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-lp", action="store_true")
    args = parser.parse_args()
    sizes = [100, 1_000, 10_000] + ([100_000] if args.huge else [])
    policies = {"coopgrid": coopgrid, "evcc-like": evcc_like, "openems-like": openems_like}
    print(f"python {sys.version.split()[0]}; median of {args.repeat} runs; green as % of the LP optimum")
    header = f"{'sessions':>8} {'sun':>4} | " + " | ".join(f"{name:^30}" for name in policies) + f" | {'LP opt kW':>9}"
    print(header)
    print(
        f"{'':>8} {'':>4} | "
        + " | ".join(f"{'ms':>7} {'green kW':>9} {'%opt':>5} {'viol':>5}" for _ in policies)
        + " |"
    )
    for n in sizes:
        for sun in (0.1, 0.3, 0.7):
            snapshot = scenario(n, sun)
            optimum = None if args.no_lp else lp_optimum(snapshot)
            cells = []
            for policy in policies.values():
                seconds, result = timed(policy, snapshot, args.repeat if n <= 10_000 else 3)
                green_kw = sum(green for _, green in result.values()) / 1000
                ratio = f"{100 * green_kw * 1000 / optimum:5.1f}" if optimum else "  n/a"
                below, over = violations(snapshot, result)
                cells.append(f"{seconds * 1000:7.1f} {green_kw:9.1f} {ratio} {below + over:5d}")
            lp = f"{optimum / 1000:9.1f}" if optimum is not None else "      n/a"
            print(f"{n:8d} {sun:4.1f} | " + " | ".join(cells) + f" | {lp}")


if __name__ == "__main__":
    main()
