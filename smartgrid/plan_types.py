"""The planner's inputs and outputs (plain frozen dataclasses) and the forecast quantile it plans on (pure).

smartgrid.planner builds and solves the program from a PlanInput and returns a Plan; these types are
also what the planning loop, the benchmark and the HTTP edge read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

MODES = ("departure", "green", "green_min", "fast")


class PlanError(ValueError):
    """A planning input that cannot be planned (named field), or a solver failure."""


@dataclass(frozen=True, slots=True)
class PlanSite:
    id: str
    grid_limit_a: float  # per phase
    base_load_a: float | Sequence[float] = 0.0  # per phase: one value, or one per slot
    voltage_v: float = 230.0
    import_eur_per_kwh: float | Sequence[float] | None = None  # the site's own prices (None: the input's)
    export_eur_per_kwh: float | Sequence[float] | None = None


@dataclass(frozen=True, slots=True)
class PlanSession:
    key: str
    site_id: str
    energy_wh: float  # still wanted (departure: by the departure)
    mode: str = "departure"
    phases: int = 3
    phase: int = 1  # single-phase sessions: the phase they load (1-3)
    min_current_a: float = 6.0
    max_current_a: float = 16.0
    max_power_w: float | None = None  # the car's own limit
    min_power_w: float | None = None  # the least the car charges with (ISO 15118), over its phases
    arrival_s: float = 0.0  # from the plan's start (0: plugged in now)
    departure_s: float | None = None  # None: stays past the horizon


@dataclass(frozen=True, slots=True)
class PlanBattery:
    id: str
    site_id: str
    capacity_wh: float
    max_charge_w: float
    max_discharge_w: float
    round_trip_efficiency: float = 0.9  # its square root applies on each way
    soc: float = 0.5  # now, as a share of the capacity
    soc_min: float = 0.0
    soc_max: float = 1.0
    reserve: float = 0.0  # a share kept for the site at all times (backup), on top of soc_min
    green_share: float = 0.0  # the share of the stored energy that came from solar


@dataclass(frozen=True, slots=True)
class Weights:
    """Per kWh unless said; each one far above what the next can gain."""

    unmet_target: float = 1000.0
    green_min_short: float = 100.0  # green_min sessions below their minimum
    green: float = 10.0
    fast: float = 20.0  # fast sessions' energy, earlier worth more (on top of green)
    cost: float = 1.0  # per EUR
    later: float = 0.01  # a departure session's energy now costs this much more than in the last slot
    # ... while sun is still to come (smartgrid.planner._later), else by the slot alone (later is cheaper):
    # a program that knows the sun (a perfect-foresight bound) has no use for waiting on it
    later_while_sun: bool = True
    fairness: float = 0.001  # per unit of the least share of wanted energy
    end_value_share: float = 0.5  # energy left in a battery at the end is worth this share of the mean price
    stored_green: float = 5.0  # green energy left in a battery at the horizon's end: EVs not known yet will want it
    battery_wear: float = 0.005  # per kWh through a battery (no pointless cycling)
    holding_green: float = 0.002  # per kWh of green charge and slot before the horizon's end: store the sun early
    discharge_early: float = 0.02  # per kWh of green discharge, now against the horizon's end: give it early


@dataclass(frozen=True, slots=True)
class PlanInput:
    slot_s: float
    green_w: Sequence[float]  # the cooperative's generation per slot (already the planning quantile)
    sites: Mapping[str, PlanSite]
    sessions: Sequence[PlanSession] = ()
    batteries: Sequence[PlanBattery] = ()
    import_eur_per_kwh: float | Sequence[float] = 0.30
    export_eur_per_kwh: float | Sequence[float] = 0.0
    weights: Weights = field(default_factory=Weights)
    # the 0-or-at-least-minimum rule held slot by slot (semi-continuous energies: a MIP, for small
    # programs such as a perfect-foresight bound); False relaxes it (an average below the minimum is
    # charged at the minimum for part of the slot)
    minimum_current: bool = False
    mip_time_limit_s: float = 120.0  # with minimum_current: given up (PlanError) past this

    @property
    def slots(self) -> int:
        return len(self.green_w)


@dataclass(frozen=True, slots=True)
class SessionPlan:
    energy_wh: tuple[float, ...]  # per slot
    grid_wh: tuple[float, ...]  # per slot: the grid budget (the rest is green)
    shortfall_wh: float  # departure target the plan cannot meet

    @property
    def total_wh(self) -> float:
        return sum(self.energy_wh)


@dataclass(frozen=True, slots=True)
class BatteryPlan:
    charge_wh: tuple[float, ...]  # AC side, per slot
    discharge_wh: tuple[float, ...]
    soc: tuple[float, ...]  # at each slot boundary (slots + 1 values)


@dataclass(frozen=True, slots=True)
class SitePlan:
    import_wh: tuple[float, ...]
    export_wh: tuple[float, ...]
    green_ev_wh: tuple[float, ...]  # green energy into the site's EVs (solar and green battery energy)
    max_phase_a: tuple[float, ...]  # highest phase's average current per slot, base load included
    min_phase_a: tuple[float, ...]  # lowest (negative while a battery feeds back)
    import_eur_per_kwh: tuple[float, ...] = ()  # the prices planned on, per slot
    export_eur_per_kwh: tuple[float, ...] = ()

    @property
    def cost_eur(self) -> float:
        """The grid cost of the plan over the horizon: import at its price less export at its price."""
        bought = sum(wh * p for wh, p in zip(self.import_wh, self.import_eur_per_kwh, strict=False))
        sold = sum(wh * p for wh, p in zip(self.export_wh, self.export_eur_per_kwh, strict=False))
        return (bought - sold) / 1000.0


@dataclass(frozen=True, slots=True)
class Plan:
    slot_s: float
    status: str
    sessions: Mapping[str, SessionPlan]
    batteries: Mapping[str, BatteryPlan]
    sites: Mapping[str, SitePlan]
    objective: float

    @property
    def slots(self) -> int:
        for site in self.sites.values():
            return len(site.import_wh)
        return 0

    def grid_budget_wh(self, key: str, slot: int) -> float | None:
        session = self.sessions.get(key)
        if session is None or not 0 <= slot < len(session.grid_wh):
            return None
        return session.grid_wh[slot]


def conservative_forecast(
    p50_w: Sequence[float], slot_s: float, quantile: float = 0.2, first_slot_w: float | None = None
) -> list[float]:
    """The forecast's `quantile` per slot, assuming a relative error that grows with the lead time.

    A day-ahead PV forecast is off by about 10 % (relative, one sigma) in the next quarter hour and
    by about 35 % a few hours out (clouds); the error is cut off at 100 %. The first slot may be
    replaced by what is measured now.
    """
    if not 0 < quantile <= 0.5:
        raise PlanError(f"quantile must be in (0, 0.5], got {quantile}")
    z = NormalDist().inv_cdf(quantile)  # negative
    out = []
    for t, p50 in enumerate(p50_w):
        lead_h = t * slot_s / 3600.0
        sigma = 0.10 + 0.25 * min(1.0, lead_h / 3.0)
        out.append(max(0.0, float(p50)) * max(0.0, 1.0 + z * sigma))
    if first_slot_w is not None and out:
        out[0] = max(0.0, first_slot_w)
    return out
