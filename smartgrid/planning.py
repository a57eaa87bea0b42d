"""The receding-horizon loop: re-plan every few minutes and on events, hand the plan to the scheduler.

It owns no I/O: the forecast, the prices, the batteries and the clock are ports handed in. The program
itself is smartgrid.planner (pure); this module builds its input from the scheduler's sessions and
the ports, and runs it off the event loop (HiGHS releases nothing to asyncio while it solves).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from smartgrid.planner import (
    Plan,
    PlanBattery,
    PlanError,
    PlanInput,
    PlanSite,
    conservative_forecast,
    plan,
)
from smartgrid.scheduler import Scheduler

log = logging.getLogger(__name__)

# the ports: generation forecast (median, W) for slots starting at a time; prices per slot; batteries now
ForecastW = Callable[[float, float, int], Sequence[float]]  # (start_s, slot_s, slots) -> W per slot
PricesPerSlot = Callable[[float, float, int], tuple[Sequence[float], Sequence[float]] | None]
SitePrices = Callable[[str, float, float, int], tuple[Sequence[float], Sequence[float]] | None]  # site's own
BatteriesNow = Callable[[], Sequence[PlanBattery]]


@dataclass(frozen=True, slots=True)
class PlanningSettings:
    slot_s: float = 900.0
    horizon_s: float = 36 * 3600.0
    replan_s: float = 300.0
    quantile: float = 0.2  # the forecast quantile planned on (smartgrid.planner.conservative_forecast)
    default_import_eur_per_kwh: float = 0.30  # without a price feed: cost = grid energy
    # up to this many session-slots the plan holds each charger's minimum current (0 or at least 6 A per
    # slot, a MIP) instead of relaxing it; one not solved within the time limit is planned relaxed
    mip_max_session_slots: int = 1000
    mip_time_limit_s: float = 1.0


def battery_setpoints_w(plan: Plan, start_s: float, now_s: float) -> dict[str, float]:
    """Each planned battery's power for the slot `now_s` falls in (+ charging, - discharging, AC side, W);
    a plan that has run out gives nothing (the battery idles once its last setpoint expires)."""
    slot = math.floor((now_s - start_s) / plan.slot_s)
    out = {}
    for battery_id, planned in plan.batteries.items():
        if 0 <= slot < len(planned.charge_wh):
            out[battery_id] = (planned.charge_wh[slot] - planned.discharge_wh[slot]) * 3600.0 / plan.slot_s
    return out


def planned_soc(plan: Plan, start_s: float, now_s: float, battery_id: str) -> float | None:
    """What the plan expects a battery's state of charge to be at `now_s` (linear within the slot)."""
    planned = plan.batteries.get(battery_id)
    if planned is None or not planned.soc:
        return None
    position = (now_s - start_s) / plan.slot_s
    slot = math.floor(position)
    if not 0 <= slot < len(planned.soc) - 1:
        return None
    part = position - slot
    return planned.soc[slot] * (1.0 - part) + planned.soc[slot + 1] * part


def solve(problem: PlanInput) -> Plan:
    """The plan; one holding the minimum current that HiGHS did not finish in time is made relaxed."""
    try:
        return plan(problem)
    except PlanError:
        if not problem.minimum_current:
            raise
        log.info("planner: the minimum-current program took too long; planned with the minimum relaxed")
        return plan(replace(problem, minimum_current=False))


class Replanner:
    def __init__(
        self,
        scheduler: Scheduler,
        *,
        settings: PlanningSettings,
        forecast_w: ForecastW,
        clock: Callable[[], float],
        measured_green_w: Callable[[], float] | None = None,
        prices: PricesPerSlot | None = None,
        site_prices: SitePrices | None = None,
        batteries: BatteriesNow | None = None,
        sites: Callable[[], Mapping[str, PlanSite]] | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.settings = settings
        self._forecast_w = forecast_w
        self._clock = clock
        self._measured_green_w = measured_green_w
        self._prices = prices
        self._site_prices = site_prices
        self._batteries = batteries
        self._sites = sites  # without it: the scheduler's sites with their other load now
        self.plans = 0
        self.failures = 0
        self.last_input: PlanInput | None = None

    def build(self, now_s: float) -> PlanInput:
        st = self.settings
        slots = max(1, int(st.horizon_s // st.slot_s))
        p50 = [max(0.0, float(v)) if math.isfinite(v) else 0.0 for v in self._forecast_w(now_s, st.slot_s, slots)]
        measured = None
        if self._measured_green_w is not None:
            value = float(self._measured_green_w())
            measured = value if math.isfinite(value) else None
        green = conservative_forecast(p50, st.slot_s, st.quantile, first_slot_w=measured)
        sites = (
            dict(self._sites())
            if self._sites is not None
            else {
                site.id: PlanSite(site.id, site.grid_limit_a, site.base_load_a, site.voltage_v)
                for site in self.scheduler.sites.values()
            }
        )
        if self._site_prices is not None:  # sites in a bidding zone of their own
            for site_id, site in list(sites.items()):
                own = self._site_prices(site_id, now_s, st.slot_s, slots)
                if own is not None:
                    sites[site_id] = replace(site, import_eur_per_kwh=own[0], export_eur_per_kwh=own[1])
        sessions = self.scheduler.plan_sessions(now_s, st.horizon_s)
        prices = self._prices(now_s, st.slot_s, slots) if self._prices is not None else None
        imports, exports = prices if prices is not None else (st.default_import_eur_per_kwh, 0.0)
        batteries = [b for b in (self._batteries() if self._batteries is not None else ()) if b.site_id in sites]
        problem = PlanInput(st.slot_s, green, sites, sessions, batteries, imports, exports)
        if len(sessions) * slots <= st.mip_max_session_slots:  # small: the minimum current held (a MIP)
            problem = replace(problem, minimum_current=True, mip_time_limit_s=st.mip_time_limit_s)
        return problem

    def plan_now(self) -> Plan | None:
        """Plan from now and hand the plan to the scheduler (synchronous; the benchmark's way)."""
        now = self._clock()
        problem = self.build(now)
        self.last_input = problem
        try:
            result = solve(problem)
        except PlanError as exc:
            self.failures += 1
            log.warning("planner: no plan (%s); the scheduler keeps its steady rule", exc)
            self.scheduler.set_plan(None, now)
            return None
        self.plans += 1
        self.scheduler.set_plan(result, now)
        return result

    async def run(self) -> None:
        """Re-plan every replan_s and whenever the scheduler asks (a session started, stopped, changed)."""
        wanted = self.scheduler.plan_wanted
        while True:
            now = self._clock()
            problem = self.build(now)
            try:
                result: Plan | None = await asyncio.to_thread(solve, problem)
                self.plans += 1
            except PlanError as exc:
                self.failures += 1
                log.warning("planner: no plan (%s); the scheduler keeps its steady rule", exc)
                result = None
            self.last_input = problem
            self.scheduler.set_plan(result, now)
            wanted.clear()
            try:
                async with asyncio.timeout(self.settings.replan_s):
                    await wanted.wait()
                await asyncio.sleep(1.0)  # a burst of events makes one plan
            except TimeoutError:
                pass
