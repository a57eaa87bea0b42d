"""The receding-horizon planner: one linear program over the next hours, solved with HiGHS.

Rules of this module: no asyncio, no clock reads, no I/O. Time is in seconds from the start of the
plan (slot 0 starts now); the forecast, the prices and the sessions are handed in. Callers measure
how long a plan took.

The program, per slot t (5-15 min) of the horizon (24-36 h):
- energy per session e[s,t] (kWh), at most what its charger and car can take in the part of the slot it
  is plugged in; sessions draw their own current on one phase or on three;
- per site: solar credited to it sol (the cooperative's generation is pooled: the sum over sites is at
  most the forecast), solar straight into its EVs gd, grid import imp and export exp; the site's balance
  imp - exp = EVs + battery charge - battery discharge - sol;
- per stationary battery: charge and discharge split into a green part (from solar) and a grey part
  (from the grid or the start charge), two stocks with the efficiency on each way, state of charge
  within [max(soc_min, reserve), soc_max]; a battery is three-phase and counts in its site's current
  both ways; it discharges into its site's EVs only (not into the grid: that would let the program
  swap grey stock for green through an export); the floor holds the stock's green share (the accounting
  gives out a battery's green pro rata); a slot that both charges and discharges a battery (it follows
  its net power, so it never does) is solved again with its smaller direction at 0 (`smartgrid.plan_lp.battery_swaps`);
- per site, phase and slot: base load + the sessions on that phase + the battery stay within
  [-limit, +limit] (average current over the slot);
- departure targets: energy by the departure, hard through a slack priced far above everything else
  (so it is only used when the target cannot be met); green-mode sessions take only green energy.

Objective, lexicographic by weights (each weight dwarfs what the next can gain per kWh): unmet targets,
then the green energy into EVs, then the grid cost (import price x import - export price x export),
then fairness (the least share of its wanted
energy any session gets); ties go to delivering a departure session's energy later while sun is still
to come (`_later`): grid energy bought late can still be replaced by sun the forecast did not see; where
no sun can come before it, earlier; a battery's green energy, though,
goes into the EVs plugged in now rather than later (those arriving later, not known yet, may want more
than its power can give then). A receding horizon that always
buys at the last moment pushes its grid energy ahead from plan to plan; the scheduler guards the
deadline (smartgrid.scheduler: near it, the steady current that still meets the target is a floor).
The 0-or-at-least-6 A rule is relaxed: within a slot, an average below the
minimum is delivered by charging at the minimum for part of the slot (the second-by-second allocation
does that). With `PlanInput.minimum_current` it is held instead, each session's energy per slot being
semi-continuous (nothing, or at least the minimum over its plugged-in time): a MIP, for small programs.

Forecast uncertainty: the planner plans on a conservative quantile of the forecast
(`conservative_forecast`, the 20 % quantile by default: four days in five the sun gives at least
that), so that a miss costs grid energy bought late rather than a missed departure; the plan is
recomputed every few minutes from what really happened.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import highspy
import numpy as np

from smartgrid.plan_lp import SWAP_ROUNDS, Lp, battery_swaps
from smartgrid.plan_types import (
    MODES,
    BatteryPlan,
    Plan,
    PlanBattery,
    PlanError,
    PlanInput,
    PlanSession,
    PlanSite,
    SessionPlan,
    SitePlan,
    Weights,
    conservative_forecast,
)

__all__ = [
    "BatteryPlan",
    "MODES",
    "Plan",
    "PlanBattery",
    "PlanError",
    "PlanInput",
    "PlanSession",
    "PlanSite",
    "SessionPlan",
    "SitePlan",
    "Weights",
    "conservative_forecast",
    "plan",
]

INF = highspy.kHighsInf


def _per_slot(value: float | Sequence[float], slots: int, name: str) -> np.ndarray:
    if isinstance(value, int | float):
        array = np.full(slots, float(value))
    else:
        array = np.asarray(list(value), dtype=float)
        if array.shape != (slots,):
            raise PlanError(f"{name}: {len(array)} values for {slots} slots")
    if not np.all(np.isfinite(array)):
        raise PlanError(f"{name}: not a finite number")
    return array


def _check(plan_input: PlanInput) -> None:
    if not (plan_input.slot_s > 0 and math.isfinite(plan_input.slot_s)):
        raise PlanError(f"slot_s must be positive, got {plan_input.slot_s}")
    for site in plan_input.sites.values():
        if not site.grid_limit_a >= 0:
            raise PlanError(f"site {site.id}: grid_limit_a must be >= 0")
        if not site.voltage_v > 0:
            raise PlanError(f"site {site.id}: voltage_v must be > 0")
    keys = set()
    for s in plan_input.sessions:
        if s.key in keys:
            raise PlanError(f"session {s.key}: key given twice")
        keys.add(s.key)
        if s.site_id not in plan_input.sites:
            raise PlanError(f"session {s.key}: unknown site_id {s.site_id!r}")
        if s.mode not in MODES:
            raise PlanError(f"session {s.key}: unknown mode {s.mode!r}")
        if s.phases not in (1, 3):
            raise PlanError(f"session {s.key}: phases must be 1 or 3")
        if s.phase not in (1, 2, 3):
            raise PlanError(f"session {s.key}: phase must be 1, 2 or 3")
        if not (math.isfinite(s.energy_wh) and s.energy_wh >= 0):
            raise PlanError(f"session {s.key}: energy_wh must be >= 0")
        if not 0 <= s.min_current_a <= s.max_current_a:
            raise PlanError(f"session {s.key}: need 0 <= min_current_a <= max_current_a")
        for name, value in (("max_power_w", s.max_power_w), ("min_power_w", s.min_power_w)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise PlanError(f"session {s.key}: {name} must be a number >= 0")
    for b in plan_input.batteries:
        if b.site_id not in plan_input.sites:
            raise PlanError(f"battery {b.id}: unknown site_id {b.site_id!r}")
        if not b.capacity_wh > 0:
            raise PlanError(f"battery {b.id}: capacity_wh must be > 0")
        if not 0 < b.round_trip_efficiency <= 1:
            raise PlanError(f"battery {b.id}: round_trip_efficiency must be in (0, 1]")
        if not 0 <= b.soc_min <= b.soc_max <= 1:
            raise PlanError(f"battery {b.id}: need 0 <= soc_min <= soc_max <= 1")
        if not 0 <= b.soc <= 1 or not 0 <= b.green_share <= 1 or not 0 <= b.reserve <= 1:
            raise PlanError(f"battery {b.id}: soc, reserve and green_share are shares in [0, 1]")
        if b.max_charge_w < 0 or b.max_discharge_w < 0:
            raise PlanError(f"battery {b.id}: max_charge_w and max_discharge_w must be >= 0")


def _power_w(s: PlanSession, site: PlanSite) -> float:
    """The most the session can draw: its charger's current on its phases, or the car's own limit."""
    power_w = s.max_current_a * s.phases * site.voltage_v
    return power_w if s.max_power_w is None else min(power_w, max(0.0, s.max_power_w))


def _minimum_w(s: PlanSession, site: PlanSite) -> float:
    """The least the session charges with when it charges: its charger's minimum current, or the car's own."""
    minimum_w = s.min_current_a * s.phases * site.voltage_v
    return minimum_w if s.min_power_w is None else max(minimum_w, s.min_power_w)


def _stay_kwh(s: PlanSession, site: PlanSite, slot_s: float, slots: int) -> np.ndarray:
    """The most energy (kWh) the session can take in each slot: its power times the plugged-in time."""
    power_w = _power_w(s, site)
    starts = np.arange(slots) * slot_s
    leave = math.inf if s.departure_s is None else s.departure_s
    overlap_s = np.clip(np.minimum(starts + slot_s, leave) - np.maximum(starts, s.arrival_s), 0.0, slot_s)
    result: np.ndarray = power_w * overlap_s / 3600.0 / 1000.0
    return result


# A departure session's energy in slot t costs `Weights.later` times the share of the horizon's sun still to
# come from t on, plus this much times t / slots: later is cheaper while sun may still replace grid energy
# bought now; where none can (a night, with tomorrow's sun all still ahead), earlier is, by a hair, so that
# a plan does not leave its room in the slot it starts in, every few minutes anew, until the night is full
EARLY = 0.05


def _later(green_kwh: np.ndarray, while_sun: bool) -> np.ndarray:
    """The tie-break cost per slot for a departure session's energy, in units of `Weights.later`
    (`while_sun` False: by the slot alone, from 1 now to 0 at the horizon's end)."""
    slots = len(green_kwh)
    position = np.arange(slots) / max(1, slots)
    if not while_sun:
        by_slot: np.ndarray = 1.0 - position
        return by_slot
    total = float(green_kwh.sum())
    ahead = np.cumsum(green_kwh[::-1])[::-1] / total if total > 1e-9 else np.ones(slots)
    result: np.ndarray = ahead + EARLY * position
    return result


def plan(plan_input: PlanInput) -> Plan:  # noqa: C901, PLR0912, PLR0915 - one program, built in one place
    """Solve the program; raises PlanError on an invalid input."""
    _check(plan_input)
    slots, slot_s, w = plan_input.slots, plan_input.slot_s, plan_input.weights
    h = slot_s / 3600.0
    green_kwh = np.clip(_per_slot(plan_input.green_w, slots, "green_w"), 0.0, None) * h / 1000.0
    later = _later(green_kwh, w.later_while_sun)
    price_in = _per_slot(plan_input.import_eur_per_kwh, slots, "import_eur_per_kwh")
    price_out = _per_slot(plan_input.export_eur_per_kwh, slots, "export_eur_per_kwh")
    sites = list(plan_input.sites.values())
    base = {s.id: _per_slot(s.base_load_a, slots, f"site {s.id}: base_load_a") for s in sites}
    prices = {
        s.id: (
            price_in if s.import_eur_per_kwh is None else _per_slot(s.import_eur_per_kwh, slots, f"{s.id}: import"),
            price_out if s.export_eur_per_kwh is None else _per_slot(s.export_eur_per_kwh, slots, f"{s.id}: export"),
        )
        for s in sites
    }
    lp = Lp()
    lp.time_limit_s = plan_input.mip_time_limit_s

    # sessions: e[s, t] where the session can charge
    e_cols: dict[str, dict[int, int]] = {}
    slack: dict[str, int] = {}
    by_site_slot: dict[tuple[str, int], list[tuple[int, PlanSession]]] = {}
    fair: list[tuple[PlanSession, list[int]]] = []
    for s in plan_input.sessions:
        site = plan_input.sites[s.site_id]
        caps = _stay_kwh(s, site, slot_s, slots)
        power_w = _power_w(s, site)
        minimum_w = _minimum_w(s, site)
        cols: dict[int, int] = {}
        slot_index: list[int] = np.nonzero(caps > 1e-9)[0].tolist()
        for t in slot_index:
            cost = w.later * later[t] if s.mode == "departure" else 0.0  # ties: deliver later, while sun may come
            if s.mode == "fast":
                cost = -w.fast * (1.0 - t / slots)
            if plan_input.minimum_current and 0 < minimum_w < power_w:  # nothing, or at least the minimum
                col = lp.col(float(caps[t]) * minimum_w / power_w, float(caps[t]), cost)
                lp.semi.append(col)
            else:
                col = lp.col(0.0, float(caps[t]), cost)
            cols[t] = col
            by_site_slot.setdefault((s.site_id, t), []).append((col, s))
            if s.mode == "green_min":
                # the minimum current while plugged in, softly: below it costs, green above it
                minimum = minimum_w * h / 1000.0
                floor = min(float(caps[t]), minimum * float(caps[t]) / (caps.max() or 1.0))
                short = lp.col(0.0, floor, w.green_min_short)
                lp.row(floor, INF, [col, short], [1.0, 1.0])
        e_cols[s.key] = cols
        wanted = s.energy_wh / 1000.0
        if s.mode == "departure":
            slack[s.key] = lp.col(0.0, wanted, w.unmet_target)
            lp.row(wanted, wanted, [*cols.values(), slack[s.key]], [1.0] * len(cols) + [1.0])
        else:
            lp.row(-INF, wanted, list(cols.values()), [1.0] * len(cols))
        if wanted > 1e-6 and cols:
            fair.append((s, list(cols.values())))

    # batteries: green and grey charge/discharge per slot and two stocks at each slot's end
    bat_cols: dict[str, list[tuple[int, int, int, int, int, int]]] = {}
    by_site_batteries: dict[str, list[str]] = {}
    # what energy left in a battery at the end saves later: half the mean price (using it now is better)
    end_value = w.end_value_share * w.cost * float(np.mean(price_in)) if slots else 0.0
    for b in plan_input.batteries:
        eta = math.sqrt(b.round_trip_efficiency)
        cap = b.capacity_wh / 1000.0
        lo, hi = max(b.soc_min, b.reserve) * cap, b.soc_max * cap
        stored = b.soc * cap
        green_prev: float | int = stored * b.green_share
        grey_prev: float | int = stored - stored * b.green_share
        prev_cols: tuple[int, int] | None = None
        green_floor = min(lo * b.green_share, float(green_prev))
        rows = []
        charge_kwh, discharge_kwh = b.max_charge_w * h / 1000.0, b.max_discharge_w * h / 1000.0
        for t in range(slots):
            last = t == slots - 1
            # green charge early (the sun that shines now may be gone in the next plan), and green discharge
            # into EVs early too: the EVs that arrive later, unknown yet, may want more than the battery's
            # power can give them then
            cg = lp.col(0.0, charge_kwh, w.battery_wear - w.holding_green * (slots - t))
            cx = lp.col(0.0, charge_kwh, w.battery_wear)
            dg = lp.col(0.0, discharge_kwh, -w.discharge_early * (1.0 - t / slots))
            dx = lp.col(0.0, discharge_kwh)
            # stored energy left at the end is worth what it saves later (after the efficiency), and green
            # energy more: the EVs of the days after the horizon (or arriving unannounced) will take it
            sg = lp.col(0.0, INF, -(end_value + w.stored_green) * eta if last else 0.0)
            sx = lp.col(0.0, INF, -end_value * eta if last else 0.0)
            lp.row(-INF, charge_kwh, [cg, cx], [1.0, 1.0])
            lp.row(-INF, discharge_kwh, [dg, dx], [1.0, 1.0])
            for stock, charge, discharge, before in ((sg, cg, dg, 0), (sx, cx, dx, 1)):
                # stock[t] = stock[t-1] + eta * charge - discharge / eta
                cols_, coefs = [stock, charge, discharge], [1.0, -eta, 1.0 / eta]
                if prev_cols is None:
                    start = green_prev if before == 0 else grey_prev
                    lp.row(float(start), float(start), cols_, coefs)
                else:
                    lp.row(0.0, 0.0, [*cols_, prev_cols[before]], [*coefs, -1.0])
            # a battery below its floor now never goes lower, and is brought back (softly: the site may be full)
            if stored < lo:
                below = lp.col(0.0, lo - stored, w.green_min_short)
                lp.row(lo, INF, [sg, sx, below], [1.0, 1.0, 1.0])
            else:
                lp.row(lo, INF, [sg, sx], [1.0, 1.0])
            lp.row(-INF, max(hi, stored), [sg, sx], [1.0, 1.0])
            # the floor holds the sun in it pro rata, as the accounting counts it (the green share of what a
            # battery gives is its stock's): charged with grey, a battery at its floor has no sun to give
            if green_floor > 1e-9:
                lp.row(green_floor, INF, [sg], [1.0])
            prev_cols = (sg, sx)
            rows.append((cg, cx, dg, dx, sg, sx))
        bat_cols[b.id] = rows
        by_site_batteries.setdefault(b.site_id, []).append(b.id)

    # sites: solar credited, solar into EVs, import, export; balance, green rows, phase currents
    site_cols: dict[str, list[tuple[int, int, int, int]]] = {}
    for site in sites:
        cols_t = []
        v = site.voltage_v
        batteries = by_site_batteries.get(site.id, [])
        for t in range(slots):
            sol = lp.col(0.0, INF)
            gd = lp.col(0.0, INF, -w.green)
            imp = lp.col(0.0, INF, w.cost * float(prices[site.id][0][t]))
            exp = lp.col(0.0, INF, -w.cost * float(prices[site.id][1][t]))
            cols_t.append((sol, gd, imp, exp))
            sessions = by_site_slot.get((site.id, t), [])
            ev = [col for col, _ in sessions]
            bats = [bat_cols[b][t] for b in batteries]
            for bc in bats:
                lp.cost[bc[2]] -= w.green  # green battery energy counts as green (into EVs, bounded below)
            # balance: imp - exp - EVs - charge + discharge + sol = 0
            row_cols = [imp, exp, sol, *ev]
            coefs = [1.0, -1.0, 1.0] + [-1.0] * len(ev)
            for cg, cx, dg, dx, _, _ in bats:
                row_cols += [cg, cx, dg, dx]
                coefs += [-1.0, -1.0, 1.0, 1.0]
            lp.row(0.0, 0.0, row_cols, coefs)
            # solar into EVs and green charge come out of the solar credited to the site
            lp.row(-INF, 0.0, [gd, sol, *(bc[0] for bc in bats)], [1.0, -1.0] + [1.0] * len(bats))
            # green into EVs (solar and green discharge) at most the EVs' energy
            lp.row(-INF, 0.0, [gd, *(bc[2] for bc in bats), *ev], [1.0] * (1 + len(bats)) + [-1.0] * len(ev))
            if bats:  # a site battery discharges into the site's EVs, never into the grid
                lp.row(
                    -INF, 0.0, [*(c for bc in bats for c in bc[2:4]), *ev], [1.0] * (2 * len(bats)) + [-1.0] * len(ev)
                )
            greens = [col for col, s in sessions if s.mode == "green"]
            if greens:
                lp.row(
                    -INF,
                    0.0,
                    [*greens, gd, *(bc[2] for bc in bats)],
                    [1.0] * len(greens) + [-1.0] * (1 + len(bats)),
                )
            # per phase: base + sessions + battery within [-limit, limit] (amperes)
            to_a = 1000.0 / (v * h)
            for phase in (1, 2, 3):
                row_cols, coefs = [], []
                for col, s in sessions:
                    if s.phases == 3 or s.phase == phase:
                        row_cols.append(col)
                        coefs.append(to_a / s.phases)
                for cg, cx, dg, dx, _, _ in bats:
                    row_cols += [cg, cx, dg, dx]
                    coefs += [to_a / 3, to_a / 3, -to_a / 3, -to_a / 3]
                if not row_cols:
                    continue
                limit, load = site.grid_limit_a, float(base[site.id][t])
                lp.row(-limit - load if bats else -INF, max(0.0, limit - load), row_cols, coefs)
        site_cols[site.id] = cols_t
    # pooled solar: credited over all sites at most the generation
    for t in range(slots):
        lp.row(-INF, float(green_kwh[t]), [site_cols[site.id][t][0] for site in sites], [1.0] * len(sites))
    # fairness: z at most each session's share of its wanted energy
    if fair:
        z = lp.col(0.0, 1.0, -w.fairness)
        for s, fair_cols in fair:
            lp.row(-INF, 0.0, [z, *fair_cols], [s.energy_wh / 1000.0] + [-1.0] * len(fair_cols))

    status, x, objective = lp.solve() if lp.lb else ("Optimal", np.zeros(0), 0.0)
    for _ in range(SWAP_ROUNDS):
        zero = battery_swaps(x, bat_cols) if status == "Optimal" else []
        if not zero:
            break
        status, x, objective = lp.solve_again_with_zero(zero)
    if status != "Optimal":
        raise PlanError(f"the planning program was not solved: {status}")
    return _read(plan_input, x, objective, e_cols, slack, bat_cols, site_cols, base, prices)


def _floats(values: Iterable[float] | np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _read(
    plan_input: PlanInput,
    x: np.ndarray,
    objective: float,
    e_cols: dict[str, dict[int, int]],
    slack: dict[str, int],
    bat_cols: dict[str, list[tuple[int, int, int, int, int, int]]],
    site_cols: dict[str, list[tuple[int, int, int, int]]],
    base: dict[str, np.ndarray],
    prices: dict[str, tuple[np.ndarray, np.ndarray]],
) -> Plan:
    slots, slot_s = plan_input.slots, plan_input.slot_s
    h = slot_s / 3600.0
    x = np.clip(x, 0.0, None)
    energy = {key: np.zeros(slots) for key in e_cols}
    for key, cols in e_cols.items():
        for t, col in cols.items():
            energy[key][t] = x[col] * 1000.0
    batteries: dict[str, BatteryPlan] = {}
    bat_net = {site: np.zeros(slots) for site in plan_input.sites}  # Wh into the site's batteries
    green_out = {site: np.zeros(slots) for site in plan_input.sites}
    for b in plan_input.batteries:
        rows = bat_cols[b.id]
        charge = np.array([(x[r[0]] + x[r[1]]) * 1000.0 for r in rows])
        discharge = np.array([(x[r[2]] + x[r[3]]) * 1000.0 for r in rows])
        # what the solves again left both ways in a slot is netted, as the battery will: it gives out at most
        # its net discharge, green first (rare: the swaps moved from slot to slot for SWAP_ROUNDS rounds)
        both = np.minimum(charge, discharge)
        charge, discharge = charge - both, discharge - both
        soc = [b.soc] + [(x[r[4]] + x[r[5]]) * 1000.0 / b.capacity_wh for r in rows]
        batteries[b.id] = BatteryPlan(_floats(charge), _floats(discharge), _floats(soc))
        bat_net[b.site_id] += charge - discharge
        green_out[b.site_id] += np.minimum(np.array([x[r[2]] * 1000.0 for r in rows]), discharge)
    by_site: dict[str, list[PlanSession]] = {}
    for s in plan_input.sessions:
        by_site.setdefault(s.site_id, []).append(s)
    grid = {key: values.copy() for key, values in energy.items()}
    sites: dict[str, SitePlan] = {}
    for site_id, site in plan_input.sites.items():
        cols_t = site_cols[site_id]
        green_ev = np.array([x[c[1]] * 1000.0 for c in cols_t]) + green_out[site_id]
        members = by_site.get(site_id, [])
        # the site's green energy into EVs: green-mode sessions first (they take nothing else), the rest pro rata
        for t in range(slots):
            left = green_ev[t]
            for s in members:
                if s.mode == "green":
                    take = min(left, energy[s.key][t])
                    grid[s.key][t] = 0.0
                    left -= take
            others = [s for s in members if s.mode != "green"]
            total = sum(energy[s.key][t] for s in others)
            share = min(1.0, left / total) if total > 1e-9 else 0.0
            for s in others:
                grid[s.key][t] = energy[s.key][t] * (1.0 - share)
        currents = np.tile(base[site_id], (3, 1))
        for s in members:
            amps = energy[s.key] / (s.phases * site.voltage_v * h)
            for phase in (1, 2, 3):
                if s.phases == 3 or s.phase == phase:
                    currents[phase - 1] += amps
        currents += bat_net[site_id] / (3 * site.voltage_v * h)
        sites[site_id] = SitePlan(
            import_wh=_floats(x[c[2]] * 1000.0 for c in cols_t),
            export_wh=_floats(x[c[3]] * 1000.0 for c in cols_t),
            green_ev_wh=_floats(green_ev),
            max_phase_a=_floats(currents.max(axis=0)) if slots else (),
            min_phase_a=_floats(currents.min(axis=0)) if slots else (),
            import_eur_per_kwh=_floats(prices[site_id][0]),
            export_eur_per_kwh=_floats(prices[site_id][1]),
        )
    sessions = {
        s.key: SessionPlan(
            _floats(energy[s.key]),
            _floats(np.clip(grid[s.key], 0.0, None)),
            float(x[slack[s.key]]) * 1000.0 if s.key in slack else 0.0,
        )
        for s in plan_input.sessions
    }
    return Plan(slot_s, "Optimal", sessions, batteries, sites, objective)
