"""A simulated day of green routing: CoopGrid against uncontrolled, evcc-like and the LP optimum (issue 7).

The cooperative: 3 parks (60, 40 and 30 kW of inverters, pvlib PVWatts on the
Greensboro TMY3 file shipped with pvlib, through simulators.inverter), 3 sites
with grid limits (3 x 125, 100 and 80 A) and a constant other load, 40 chargers (16 A three-phase,
some single-phase), and seeded EVs: commuters who stay the working day and
visitors who stay one to three hours, each with the energy it wants by its
departure (capped to what its charger could deliver in the stay). One-minute
steps from 05:00 to 21:00 local time, one sunny and one cloudy day.

Policies:
- uncontrolled: full current from plug-in until the EV is full (site limits
  ignored, as plain chargers do);
- evcc-like: each site sees only its own park's surplus; one charger per site
  adjusted per 30 s tick; 1 min enable / 3 min disable delays; 6 A minimum;
  solar only (PV mode);
- coopgrid: the real smartgrid.scheduler.Scheduler (hand-advanced clock,
  in-memory ports) with departure targets, a forecast of the remaining green
  (the clear-day envelope of the month scaled by the last hour's actual
  output), the same 1 min / 3 min delays;
- LP optimum: perfect foresight, HiGHS through scipy: the most green energy
  the EVs could take under the same chargers, stays, energy wanted and site
  limits (0-or-at-least-6 A relaxed, so an upper bound).

Green energy is pooled: at each step the EVs' energy is green up to the
cooperative's generation, shared pro rata (smartgrid.ledger.split_interval).

Run: .venv/bin/python benchmarks/green_day.py [--seed N] [--no-lp]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chargepoints.events import MeterSample, TransactionStarted, TransactionStopped  # noqa: E402
from smartgrid.allocation import Site  # noqa: E402
from smartgrid.hysteresis import HysteresisSettings  # noqa: E402
from smartgrid.ledger import split_interval  # noqa: E402
from smartgrid.ports import ChargerSpec
from smartgrid.scheduler import Scheduler  # noqa: E402

V = 230.0
STEP_S = 60
START_UTC_HOUR = 10  # 05:00 in Greensboro (UTC-5)
STEPS = 16 * 60
DAYS = {"sunny": datetime(1990, 5, 10, tzinfo=UTC), "cloudy": datetime(1990, 5, 13, tzinfo=UTC)}
PARKS_W = {"p1": 60_000.0, "p2": 40_000.0, "p3": 30_000.0}
SITES = {  # site -> (grid limit per phase, other load per phase, chargers, its own park for evcc-like)
    "north": (125.0, 15.0, 16, "p1"),
    "centre": (100.0, 10.0, 14, "p2"),
    "south": (80.0, 8.0, 10, "p3"),
}


@dataclass(slots=True)
class EV:
    id: int
    charger: str
    site: str
    phases: int
    arrive: int  # step
    leave: int  # step (exclusive)
    need_wh: float
    delivered_wh: float = 0.0
    green_wh: float = 0.0


@dataclass(slots=True)
class Charger:
    id: str
    site: str
    phases: int
    max_a: float = 16.0


def chargers() -> list[Charger]:
    out = []
    for site, (_, _, count, _) in SITES.items():
        for k in range(count):
            out.append(Charger(f"{site}-{k:02d}", site, phases=1 if k % 7 == 6 else 3))
    return out


def fleet(seed: int) -> list[EV]:
    rng = random.Random(seed)
    evs: list[EV] = []
    for charger in chargers():
        t = rng.randint(90, 240) if rng.random() < 0.7 else rng.randint(240, 480)  # 06:30-09:00 or later
        while t < STEPS - 60:
            commuter = t < 240
            stay = rng.randint(7 * 60, 9 * 60) if commuter else rng.randint(60, 180)
            leave = min(STEPS, t + stay)
            possible = charger.max_a * charger.phases * V * (leave - t) / 60
            need = min(rng.uniform(8_000, 35_000) if commuter else rng.uniform(3_000, 12_000), 0.9 * possible)
            evs.append(EV(len(evs), charger.id, charger.site, charger.phases, t, leave, need))
            t = leave + rng.randint(15, 120)
            if commuter or rng.random() < 0.4:
                break
    return evs


def solar(day: datetime) -> dict[str, list[float]]:
    from simulators.inverter import park_power_w

    start = day.replace(hour=START_UTC_HOUR)
    return {
        park: [park_power_w(start + timedelta(seconds=STEP_S * (i + 0.5)), rated) for i in range(STEPS)]
        for park, rated in PARKS_W.items()
    }


def clear_envelope(day: datetime) -> list[float]:
    """The month's clear-day envelope of the whole cooperative, W per step (the forecast's shape)."""
    from simulators.inverter import park_power_w

    total = sum(PARKS_W.values())
    envelope = [0.0] * STEPS
    for d in range(-14, 15, 2):
        start = day.replace(hour=START_UTC_HOUR) + timedelta(days=d)
        for i in range(0, STEPS, 5):
            value = park_power_w(start + timedelta(seconds=STEP_S * i), total)
            for j in range(i, min(STEPS, i + 5)):
                envelope[j] = max(envelope[j], value)
    return envelope


# -- the simulation (EVs take what they are given, up to what they still want) -----------------


@dataclass
class Outcome:
    green_wh: float = 0.0
    ev_wh: float = 0.0
    peak_import_w: float = 0.0
    grid_import_wh: float = 0.0
    switches: int = 0
    site_violations: int = 0
    met: int = 0
    feasible: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def account(evs: list[EV], limits: dict[int, float], step: int, green_w: float, out: Outcome) -> dict[int, float]:
    """One step: energy per EV from its limit, pooled green, site checks. Returns the current each EV draws."""
    drawn: dict[int, float] = {}
    energy: dict[str, float] = {}
    per_site: dict[str, float] = {}
    for ev in evs:
        if not (ev.arrive <= step < ev.leave):
            continue
        limit = limits.get(ev.id, 0.0)
        want_wh = ev.need_wh - ev.delivered_wh
        if limit <= 0 or want_wh <= 0:
            drawn[ev.id] = 0.0
            continue
        wh = min(limit * ev.phases * V * STEP_S / 3600, want_wh)
        drawn[ev.id] = wh * 3600 / STEP_S / (ev.phases * V)
        energy[str(ev.id)] = wh
        per_site[ev.site] = per_site.get(ev.site, 0.0) + drawn[ev.id]
    split = split_interval(energy, {"all": green_w * STEP_S / 3600}, {})
    for key, wh in energy.items():
        ev = evs[int(key)]
        ev.delivered_wh += wh
        ev.green_wh += split.green_wh[key]
    ev_wh = sum(energy.values())
    green_wh = sum(split.green_wh.values())
    out.ev_wh += ev_wh
    out.green_wh += green_wh
    import_w = (ev_wh - green_wh) * 3600 / STEP_S + sum(base * 3 * V for _, base, _, _ in SITES.values())
    out.peak_import_w = max(out.peak_import_w, import_w)
    out.grid_import_wh += ev_wh - green_wh
    for site, current in per_site.items():
        limit, base, _, _ = SITES[site]
        if current > limit - base + 1e-6:
            out.site_violations += 1
    return drawn


def finish(evs: list[EV], out: Outcome) -> Outcome:
    for ev in evs:
        out.feasible += 1
        if ev.delivered_wh >= ev.need_wh - 100:
            out.met += 1
    return out


def count_switches(evs: list[EV], previous: dict[int, float], limits: dict[int, float], out: Outcome) -> None:
    """Starts and pauses of EVs that still want energy (a full EV offered current does not switch)."""
    for ev_id in set(previous) | set(limits):
        if evs[ev_id].delivered_wh >= evs[ev_id].need_wh:
            continue
        if (previous.get(ev_id, 0.0) > 0) != (limits.get(ev_id, 0.0) > 0):
            out.switches += 1


# -- policies -------------------------------------------------------------------------------------


def uncontrolled(evs: list[EV], parks: dict[str, list[float]]) -> Outcome:
    out = Outcome()
    limits: dict[int, float] = {}
    for step in range(STEPS):
        green = sum(p[step] for p in parks.values())
        new = {ev.id: 16.0 for ev in evs if ev.arrive <= step < ev.leave and ev.delivered_wh < ev.need_wh}
        count_switches(evs, limits, new, out)
        limits = new
        account(evs, limits, step, green, out)
    return finish(evs, out)


def evcc_like(evs: list[EV], parks: dict[str, list[float]]) -> Outcome:
    """Per site: its park's surplus, one loadpoint adjusted per 30 s tick, 60 s / 180 s delays, PV mode."""
    out = Outcome()
    limits: dict[int, float] = {}
    timers: dict[int, float] = {}  # ev -> second the pending enable/disable started
    turn = dict.fromkeys(SITES, 0)
    for step in range(STEPS):
        green = sum(p[step] for p in parks.values())
        previous = dict(limits)
        for tick in range(STEP_S // 30):
            now = step * STEP_S + tick * 30
            for site, (grid_a, base_a, _, park) in SITES.items():
                here = [ev for ev in evs if ev.site == site and ev.arrive <= step < ev.leave]
                for ev_id in list(limits):
                    if not any(e.id == ev_id for e in evs if e.arrive <= step < e.leave):
                        limits.pop(ev_id, None)
                if not here:
                    continue
                ev = here[turn[site] % len(here)]
                turn[site] += 1
                if ev.delivered_wh >= ev.need_wh:
                    limits[ev.id] = 0.0
                    continue
                others_w = sum(limits.get(e.id, 0.0) * e.phases * V for e in here if e.id != ev.id)
                surplus_w = parks[park][step] - others_w
                room_a = grid_a - base_a - sum(limits.get(e.id, 0.0) for e in here if e.id != ev.id)
                target = min(16.0, surplus_w / (ev.phases * V), room_a)
                on = limits.get(ev.id, 0.0) > 0
                if target >= 6.0:
                    if on or now - timers.setdefault(ev.id, now) >= 60:
                        limits[ev.id] = target
                        timers.pop(ev.id, None)
                elif on:
                    if now - timers.setdefault(ev.id, now) >= 180:
                        limits[ev.id] = 0.0
                        timers.pop(ev.id, None)
                    else:
                        limits[ev.id] = min(6.0, max(0.0, room_a))
                else:
                    timers.pop(ev.id, None)
        count_switches(evs, previous, limits, out)
        account(evs, limits, step, green, out)
    return finish(evs, out)


class _Ports:
    def __init__(self) -> None:
        self.green_w = 0.0
        self.forecast_wh = 0.0
        self.limits: dict[str, float] = {}

    async def send(self, cp: str, connector: int, limit_a: float, transaction_id: int | None) -> None:
        self.limits[cp] = limit_a

    async def publish(self, site_id: str, allocation: dict[str, Any]) -> None:
        return None


async def _coopgrid(evs: list[EV], parks: dict[str, list[float]], envelope: list[float]) -> Outcome:
    out = Outcome()
    ports = _Ports()
    clock = [0.0]
    total = [sum(p[i] for p in parks.values()) for i in range(STEPS)]

    def forecast(horizon_s: float) -> float:
        step = int(clock[0] // STEP_S)
        recent = range(max(0, step - 60), step + 1)
        actual = sum(total[i] for i in recent)
        clear = sum(envelope[i] for i in recent)
        ratio = min(1.0, actual / clear) if clear > 0 else 0.0
        end = min(STEPS, step + 1 + int(horizon_s // STEP_S))
        return ratio * sum(envelope[step + 1 : end]) * STEP_S / 3600

    scheduler = Scheduler(
        sites={site: Site(site, grid_a, base_load_a=base_a) for site, (grid_a, base_a, _, _) in SITES.items()},
        chargers={c.id: ChargerSpec(c.site, phases=c.phases) for c in chargers()},
        green_power_w=lambda: ports.green_w,
        send_limit=ports.send,
        publish_allocation=ports.publish,
        clock=lambda: clock[0],
        hysteresis=HysteresisSettings(enable_delay_s=60.0, disable_delay_s=180.0),
        green_forecast_wh=forecast,
    )
    ts = datetime(2026, 6, 1, tzinfo=UTC)
    by_charger: dict[str, EV] = {}
    drawn: dict[int, float] = {}
    limits: dict[int, float] = {}
    for step in range(STEPS):
        clock[0] = step * STEP_S
        ports.green_w = total[step]
        for ev in evs:
            if ev.leave == step and by_charger.get(ev.charger) is ev:
                del by_charger[ev.charger]
                await scheduler.on_event(TransactionStopped(ev.charger, ev.id, ev.delivered_wh, "EVDisconnected", ts))
                ports.limits.pop(ev.charger, None)
            if ev.arrive == step:
                by_charger[ev.charger] = ev
                await scheduler.on_event(TransactionStarted(ev.charger, 1, ev.id, "TAG", 0.0, ts))
                scheduler.set_target(ev.charger, 1, ev.need_wh, ev.leave * STEP_S)
        for ev in by_charger.values():
            await scheduler.on_event(
                MeterSample(ev.charger, 1, ev.id, ts, energy_wh=ev.delivered_wh, current_a=drawn.get(ev.id))
            )
        await scheduler.run_once()
        new = {ev.id: ports.limits.get(ev.charger, 0.0) for ev in by_charger.values()}
        count_switches(evs, limits, new, out)
        limits = new
        drawn = account(evs, limits, step, total[step], out)
    return finish(evs, out)


def coopgrid(evs: list[EV], parks: dict[str, list[float]], envelope: list[float]) -> Outcome:
    return asyncio.run(_coopgrid(evs, parks, envelope))


def lp_optimum(evs: list[EV], parks: dict[str, list[float]]) -> float | None:
    """The most green Wh EVs can take over the day with perfect foresight (HiGHS). None without scipy."""
    try:
        import numpy as np
        from scipy.optimize import linprog
        from scipy.sparse import coo_matrix
    except ImportError:
        return None
    total = [sum(p[i] for p in parks.values()) for i in range(STEPS)]
    # variables: x[e, t] = current of EV e at step t (A, per phase), for t in its stay; then g[t] = green W at t
    index: list[tuple[int, int]] = [(ev.id, t) for ev in evs for t in range(ev.arrive, ev.leave)]
    n_x = len(index)
    n = n_x + STEPS
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    b: list[float] = []
    r = 0
    # green at t <= EV power at t:  g_t - sum_e x_et * w_e <= 0
    by_step: dict[int, list[int]] = {}
    for k, (_, t) in enumerate(index):
        by_step.setdefault(t, []).append(k)
    for t in range(STEPS):
        rows.append(r)
        cols.append(n_x + t)
        vals.append(1.0)
        for k in by_step.get(t, []):
            rows.append(r)
            cols.append(k)
            vals.append(-evs[index[k][0]].phases * V)
        b.append(0.0)
        r += 1
    # energy: sum_t x_et * w_e * step_h <= need_e
    by_ev: dict[int, list[int]] = {}
    for k, (e, _) in enumerate(index):
        by_ev.setdefault(e, []).append(k)
    for ev in evs:
        for k in by_ev.get(ev.id, []):
            rows.append(r)
            cols.append(k)
            vals.append(ev.phases * V * STEP_S / 3600)
        b.append(ev.need_wh)
        r += 1
    # sites: sum of currents at a site at t <= limit - base
    for site, (grid_a, base_a, _, _) in SITES.items():
        for t in range(STEPS):
            ks = [k for k in by_step.get(t, []) if evs[index[k][0]].site == site]
            if not ks:
                continue
            rows.extend([r] * len(ks))
            cols.extend(ks)
            vals.extend([1.0] * len(ks))
            b.append(grid_a - base_a)
            r += 1
    a_ub = coo_matrix((vals, (rows, cols)), shape=(r, n)).tocsr()
    bounds = [(0.0, 16.0)] * n_x + [(0.0, g) for g in total]
    c = np.zeros(n)
    c[n_x:] = -STEP_S / 3600
    result = linprog(c, A_ub=a_ub, b_ub=np.array(b), bounds=bounds, method="highs")
    return float(-result.fun) if result.status == 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-lp", action="store_true")
    args = parser.parse_args()
    print("policy        green kWh  green %  EV kWh  met/EVs  grid kWh  peak kW  switches  site>limit  ratio/LP")
    for name, day in DAYS.items():
        parks = solar(day)
        envelope = clear_envelope(day)
        generated = sum(sum(p) for p in parks.values()) * STEP_S / 3600 / 1000
        optimum = None if args.no_lp else lp_optimum(fleet(args.seed), parks)
        print(f"-- {name} day {day:%Y-%m-%d}: generated {generated:.1f} kWh, {len(fleet(args.seed))} EVs")
        results = {}
        for policy in ("uncontrolled", "evcc-like", "coopgrid"):
            evs = fleet(args.seed)
            started = time.perf_counter()
            if policy == "uncontrolled":
                out = uncontrolled(evs, parks)
            elif policy == "evcc-like":
                out = evcc_like(evs, parks)
            else:
                out = coopgrid(evs, parks, envelope)
            out.seconds = time.perf_counter() - started
            results[policy] = out
            ratio = f"{out.green_wh / optimum:8.3f}" if optimum else "     n/a"
            print(
                f"{policy:13s} {out.green_wh / 1000:9.1f} {100 * out.green_wh / max(1.0, out.ev_wh):8.1f}"
                f" {out.ev_wh / 1000:7.1f} {out.met:4d}/{out.feasible:<4d} {out.grid_import_wh / 1000:8.1f}"
                f" {out.peak_import_w / 1000:8.1f} {out.switches:9d} {out.site_violations:11d} {ratio}"
            )
        if optimum is not None:
            print(f"{'LP optimum':13s} {optimum / 1000:9.1f}")


if __name__ == "__main__":
    main()
