"""The simulated world of benchmarks/green_day.py: a scenario's EVs, batteries, sites and parks stepped
minute by minute, and the figures a policy is judged by (green, grid, cost, targets, limits)."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scenario_file import Scenario  # noqa: E402

DEFAULT_PRICE = 0.30  # EUR/kWh when a scenario has no prices: cost is then grid energy at a flat price
MIN_A = 6.0
QUANTILE = [0.2]  # the forecast quantile CoopGrid plans on (--quantile)


@dataclass(slots=True)
class Ev:
    index: int
    charger: str
    site: str
    phases: int
    phase: int
    max_a: float
    max_w: float  # charger and car
    arrive: int  # first step
    leave: int  # first step after the stay
    need_wh: float
    mode: str
    delivered_wh: float = 0.0


@dataclass(slots=True)
class Battery:
    id: str
    site: str
    capacity_wh: float
    charge_w: float
    discharge_w: float
    eta: float  # one way
    soc_min: float
    stored_wh: float
    green_wh: float = 0.0


@dataclass
class Figures:
    green_wh: float = 0.0
    grid_wh: float = 0.0
    cost_eur: float = 0.0
    targets_met: int = 0
    targets: int = 0
    max_over_limit_a: float = 0.0
    plan_ms: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        times = sorted(self.plan_ms)
        p99 = times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)] if times else 0.0
        return {
            "green_wh": round(self.green_wh, 1),
            "grid_wh": round(self.grid_wh, 1),
            "cost_eur": round(self.cost_eur, 3),
            "targets_met": self.targets_met,
            "targets": self.targets,
            "max_over_limit_a": round(self.max_over_limit_a, 3),
            "plan_ms_p99": round(p99, 1),
        }


class World:
    """The scenario's physics and accounting: EVs take what they are given up to what they still want."""

    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        spec = sc.spec
        self.step_s = spec.step_s
        self.h = spec.step_s / 3600.0
        self.sites = {s.id: s for s in spec.sites}
        chargers = {c.id: c for c in spec.chargers}
        self.evs: list[Ev] = []
        for k, ev in enumerate(spec.evs):
            c = chargers[ev.charger_id]
            volts = self.sites[c.site_id].voltage_v
            max_w = c.max_current_a * c.phases * volts
            if ev.max_power_w is not None:
                max_w = min(max_w, ev.max_power_w)
            arrive = sc.step_of(ev.arrival)
            leave = int((ev.departure - spec.start).total_seconds() // spec.step_s)
            self.evs.append(
                Ev(k, c.id, c.site_id, c.phases, c.phase, c.max_current_a, max_w, arrive, leave, ev.energy_wh, ev.mode)
            )
        self.batteries = {
            b.id: Battery(
                b.id,
                b.site_id,
                b.capacity_wh,
                b.max_charge_w,
                b.max_discharge_w,
                math.sqrt(b.round_trip_efficiency),
                b.soc_min,
                b.soc_start * b.capacity_wh,
            )
            for b in spec.batteries
        }
        self.generation = sc.generation_w()
        self.prices = sc.import_eur_per_kwh
        self.out = Figures()

    def plugged(self, step: int) -> list[Ev]:
        return [ev for ev in self.evs if ev.arrive <= step < ev.leave]

    def energy_for(self, ev: Ev, limit_a: float) -> float:
        """What the EV draws in a step at this limit: 0 below 6 A, its own limits, what it still wants."""
        if limit_a < MIN_A - 1e-9 or ev.delivered_wh >= ev.need_wh:
            return 0.0
        volts = self.sites[ev.site].voltage_v
        power = min(ev.max_w, min(limit_a, ev.max_a) * ev.phases * volts)
        return max(0.0, min(power * self.h, ev.need_wh - ev.delivered_wh))

    def step(self, step: int, energy: dict[int, float], battery_w: dict[str, float]) -> dict[int, float]:
        """Apply one step; returns each EV's current drawn (A per phase)."""
        gen_wh = self.generation[step] * self.h
        ev_wh = sum(energy.values())
        currents = {s: [self.sc.base_load_a[s][step]] * 3 for s in self.sites}
        drawn = {}
        for index, wh in energy.items():
            ev = self.evs[index]
            volts = self.sites[ev.site].voltage_v
            amps = wh / self.h / (ev.phases * volts)
            drawn[index] = amps
            ev.delivered_wh += wh
            for p in range(3):
                if ev.phases == 3 or ev.phase == p + 1:
                    currents[ev.site][p] += amps
        # batteries: green charge is solar left after the EVs; green discharge pro rata of the stock
        solar_left = max(0.0, gen_wh - ev_wh)
        charged = discharged = green_out = 0.0
        for bid, power in battery_w.items():
            b = self.batteries[bid]
            volts = self.sites[b.site].voltage_v
            if power > 0:
                wh = min(power, b.charge_w) * self.h
                wh = max(0.0, min(wh, (b.capacity_wh - b.stored_wh) / b.eta))
                green = min(wh, solar_left)
                solar_left -= green
                b.stored_wh += wh * b.eta
                b.green_wh += green * b.eta
                charged += wh
                net = wh
            else:
                wh = min(-power, b.discharge_w) * self.h
                wh = max(0.0, min(wh, (b.stored_wh - b.soc_min * b.capacity_wh) * b.eta))
                share = b.green_wh / b.stored_wh if b.stored_wh > 1e-9 else 0.0
                taken = wh / b.eta
                b.stored_wh -= taken
                b.green_wh = max(0.0, b.green_wh - taken * share)
                green_out += wh * share
                discharged += wh
                net = -wh
            for p in range(3):
                currents[b.site][p] += net / self.h / (3 * volts)
        direct = min(ev_wh, gen_wh)
        green = direct + min(ev_wh - direct, green_out)
        price = self.prices[step] if self.prices is not None else DEFAULT_PRICE
        out = self.out
        out.green_wh += green
        out.grid_wh += ev_wh - green
        out.cost_eur += max(0.0, ev_wh + charged - discharged - gen_wh) / 1000.0 * price
        for site_id, site in self.sites.items():
            worst = max(max(currents[site_id]) - site.grid_limit_a, -min(currents[site_id]) - site.grid_limit_a)
            out.max_over_limit_a = max(out.max_over_limit_a, worst)
        return drawn

    def finish(self) -> Figures:
        for ev in self.evs:
            if ev.mode == "departure":
                self.out.targets += 1
                self.out.targets_met += ev.delivered_wh >= ev.need_wh - 100
        return self.out


# -- the perfect-foresight LP --------------------------------------------------------------------------
