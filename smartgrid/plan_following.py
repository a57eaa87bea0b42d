"""Part of the Scheduler: following the planner's plan, and the sessions as the planner sees them.

A departure session in the plan gets, as its grid floor, what is left of the plan's grid budget for the
current slot spread over the rest of the slot (`_planned_grid_a`); the grid energy each session drew is
counted against that budget (`_count_grid`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass

from smartgrid.allocation import Setpoint, Site
from smartgrid.planner import Plan, PlanSession
from smartgrid.ports import ChargerSpec, EVRange, session_bounds_a


@dataclass(slots=True)
class SessionState:
    """One charging session as the scheduler follows it."""

    charge_point_id: str
    connector_id: int
    transaction_id: int
    drawn_current_a: float | None = None
    drawn_at_s: float = -math.inf  # when drawn_current_a was reported (the scheduler's clock)
    sent_at_s: float = -math.inf  # when its last limit was applied
    mode: str = "green"
    priority: int = 0
    phases: int = 3
    meter_start_wh: float = 0.0
    energy_wh: float | None = None  # the last register reading
    target_wh: float | None = None  # departure mode: energy wanted in this session
    departure_s: float | None = None  # departure mode: when the driver leaves (the scheduler's clock)
    committed: bool = False  # departure mode: the forecast no longer sufficed once; the grid tops up to the end
    wanted_wh: float | None = None  # any mode, for the planner: the energy the driver wants in this session
    leave_s: float | None = None  # any mode, for the planner: when the driver leaves
    ev: EVRange | None = None  # the EV's own range (ISO 15118): its floor and ceiling within the charger's
    budget_slot: tuple[int, int] = (-1, -1)  # (plan number, slot) the grid energy below was counted in
    slot_grid_wh: float = 0.0  # grid energy drawn in that slot
    slot_start_wh: float = 0.0  # the session's energy when that slot began

    def delivered_wh(self) -> float:
        return max(0.0, self.energy_wh - self.meter_start_wh) if self.energy_wh is not None else 0.0

    def leaves_at_s(self) -> float | None:
        """When the driver leaves: the departure target's time, else what the driver told (None: unknown)."""
        return self.departure_s if self.mode == "departure" else self.leave_s

    def wanted_energy_wh(self) -> float | None:
        """The energy wanted in this session: the departure target, else what the driver told, else the EV."""
        wanted = self.target_wh if self.mode == "departure" else self.wanted_wh
        if wanted is None and self.ev is not None:
            wanted = self.ev.energy_wh  # what the EV said it wants
        return wanted


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


class PlanFollowing:
    # the Scheduler's (annotations only: a stub method here would shadow the real one)
    sites: dict[str, Site]
    chargers: Mapping[str, ChargerSpec]
    _sessions: dict[str, SessionState]
    _plan: Plan | None
    _plan_start_s: float
    _plans: int
    _trigger: asyncio.Event
    _last_run_at: float | None
    _last_points: dict[str, Setpoint]

    def set_plan(self, plan: Plan | None, start_s: float) -> None:
        """Follow this plan from start_s (the scheduler's clock; the plan's slot 0 starts then)."""
        self._plan, self._plan_start_s = plan, start_s
        self._plans += 1
        self._trigger.set()

    @property
    def plan(self) -> tuple[Plan, float] | None:
        return (self._plan, self._plan_start_s) if self._plan is not None else None

    def plan_sessions(self, now_s: float, horizon_s: float) -> list[PlanSession]:
        """The sessions as the planner sees them now: energy still wanted, stay left, charger limits (within the
        EV's own range when it told it: its current bounds, and its charge power as the most per slot)."""
        out = []
        for key, session in sorted(self._sessions.items()):
            spec = self.chargers.get(session.charge_point_id)
            if spec is None or spec.site_id not in self.sites:
                continue
            volts = self.sites[spec.site_id].voltage_v
            ev = session.ev
            wanted = session.wanted_energy_wh()
            leave = session.leaves_at_s()
            floor_a, ceiling_a = session_bounds_a(spec, ev, session.phases, volts)
            if floor_a > ceiling_a:  # the EV cannot charge at this charger: nothing to plan
                floor_a = ceiling_a = 0.0
            if wanted is None:  # not told: what the charger could give over the horizon
                wanted = ceiling_a * session.phases * volts * horizon_s / 3600
            out.append(
                PlanSession(
                    key,
                    spec.site_id,
                    max(0.0, wanted - session.delivered_wh()),
                    mode="fast" if session.mode == "priority" else session.mode,  # priority charging: now, as fast
                    phases=session.phases,
                    min_current_a=floor_a,
                    max_current_a=ceiling_a,
                    max_power_w=_finite(ev.max_power_w) if ev is not None else None,
                    min_power_w=ev.min_power_w if ev is not None and ev.min_power_w > 0 else None,
                    departure_s=None if leave is None else max(0.0, leave - now_s),
                )
            )
        return out

    def _plan_slot(self, plan: Plan, now_s: float) -> int:
        """The plan's slot now (negative before its start, past its slots after its end)."""
        return int((now_s - self._plan_start_s) // plan.slot_s)

    def _planned_grid_a(self, key: str, session: SessionState, now_s: float, volts: float, tight: bool) -> float | None:
        """The grid floor for the rest of the plan's current slot (None: no plan).

        It spends what is left of the slot's grid budget by the slot's end. A forecast miss (less sun
        than planned) is left to the next plan, minutes away, while the departure is far; once it is
        near (`tight`: the energy still wanted needs most of the time left at full power), the session
        also draws the slot's planned energy the sun did not give, from the grid, within the slot.
        """
        plan = self._plan
        if plan is None:
            return None
        slot = self._plan_slot(plan, now_s)
        budget = plan.grid_budget_wh(key, slot)
        if budget is None:
            return None  # not in the plan (started since) or the plan ran out: the steady rule
        delivered = session.delivered_wh()
        if session.budget_slot != (self._plans, slot):
            session.budget_slot, session.slot_grid_wh, session.slot_start_wh = (self._plans, slot), 0.0, delivered
        left_s = self._slot_end_s(plan, slot, session) - now_s
        if left_s <= 0:
            return 0.0
        wanted = budget - session.slot_grid_wh
        if tight:
            wanted = max(wanted, plan.sessions[key].energy_wh[slot] - (delivered - session.slot_start_wh))
        if wanted <= 1e-6:
            return 0.0
        return wanted * 3600.0 / (left_s * session.phases * volts)

    def _slot_end_s(self, plan: Plan, slot: int, session: SessionState) -> float:
        """When the session's part of a plan slot ends: the slot's end, or the driver's departure within it
        (the plan gives the slot containing the departure only the time before it)."""
        end = self._plan_start_s + (slot + 1) * plan.slot_s
        leave = session.leaves_at_s()
        return end if leave is None else min(end, leave)

    def _planned_a(self, key: str, session: SessionState, now_s: float, volts: float) -> float | None:
        """The plan's current for this session in the current slot, green and grid (None: not in the plan)."""
        plan = self._plan
        if plan is None:
            return None
        planned = plan.sessions.get(key)
        slot = self._plan_slot(plan, now_s)
        if planned is None or not 0 <= slot < len(planned.energy_wh):
            return None
        start = self._plan_start_s + slot * plan.slot_s
        # at least a minute: a departure at (or, late, before) the slot's start must not divide by ~0
        length_s = max(self._slot_end_s(plan, slot, session) - start, 60.0)
        return planned.energy_wh[slot] * 3600.0 / (length_s * session.phases * volts)

    def _count_grid(self, now_s: float) -> None:
        """The grid energy each session drew since the last run (its setpoint's grid share), for its budget."""
        if self._last_run_at is not None and now_s > self._last_run_at:
            hours = (now_s - self._last_run_at) / 3600.0
            for key, point in self._last_points.items():
                session = self._sessions.get(key)
                if session is not None and point.grid_w > 0:
                    drawn = session.drawn_current_a
                    share = 1.0 if drawn is None or point.limit_a <= 0 else min(1.0, drawn / point.limit_a)
                    session.slot_grid_wh += point.grid_w * share * hours
        self._last_run_at = now_s
