"""The event-driven control loop around the allocation core.

It keeps the set of charging sessions from charge-point events, recomputes the
allocation when something changes (debounced) and on a periodic tick, sends
only the limits that changed, and publishes each site's allocation. It does no
I/O of its own: sending a limit, publishing an allocation, reading the green
power and the clock are ports handed in.

Fail-safe: when the green power cannot be read (an exception, NaN), it counts
as 0 W, so solar-only sessions fall to 0 A at once (no disable delay) while
site limits keep holding.

The plan (smartgrid.planning sets it with `set_plan`): a departure session in the plan gets, as its grid
floor, what is left of the plan's grid budget for the current slot spread over the rest of the slot;
green comes on top. Near the departure the floor is at least the steady current that still meets
the target. Sessions the plan does not know yet (started since) keep the steady rule below. Events
that call for a new plan (start, stop, mode or target) set `plan_wanted`.

Hysteresis (smartgrid.hysteresis, off by default): with enable/disable delays,
each run allocates up to three times — once to see whether the sessions now
charging still have enough green, once to see whether waiting ones would get
their minimum next to them, and once with the resulting flags.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from chargepoints.events import (
    ChargerConnected,
    ChargerDisconnected,
    MeterSample,
    TransactionStarted,
    TransactionStopped,
)
from smartgrid.allocation import SessionDemand, Setpoint, Site, Snapshot, allocate, departure_current_a
from smartgrid.allocation_view import AllocationView
from smartgrid.grid import ManagedDraw, metered_site
from smartgrid.hysteresis import HysteresisSettings, OnOffGate, PhaseHold, UpdateLimiter
from smartgrid.plan_following import PlanFollowing, SessionState
from smartgrid.planner import Plan
from smartgrid.ports import ChargerSpec, PublishAllocation, SendLimit, SwitchPhases, session_bounds_a
from smartgrid.session_control import SessionControl
from solar.events import GridMeterReading, GridMeterStateChanged

log = logging.getLogger(__name__)

_Session = SessionState  # one charging session as the scheduler follows it

GATED_MODES = ("green", "departure")
PLAN_TIGHT = 0.7  # following a plan: past this share of the time left at full power, misses are made up at once
# and in a plan's last minutes before the departure whatever is still wanted: the sun the plan counted on for
# it may not come in time, and a car charges in whole steps (seen: 109 Wh short, under 70 % of the last minute)
PLAN_FINAL_S = 300.0
DEADLINE_MARGIN = 0.6  # a departure plan waits for the sun only while 60 % of the time left at full power suffices


class Scheduler(SessionControl, PlanFollowing, AllocationView):
    def __init__(
        self,
        *,
        sites: Mapping[str, Site],
        chargers: Mapping[str, ChargerSpec],
        green_power_w: Callable[[], float],
        send_limit: SendLimit,
        publish_allocation: PublishAllocation,
        clock: Callable[[], float],
        debounce_s: float = 0.2,
        tick_s: float = 5.0,
        min_change_a: float = 0.5,
        wall_clock: Callable[[], datetime] | None = None,  # the platform's clock: the allocations' time
        hysteresis: HysteresisSettings | None = None,
        switch_phases: SwitchPhases | None = None,
        green_forecast_wh: Callable[[float], float] | None = None,
    ) -> None:
        self.sites = dict(sites)
        self.chargers = dict(chargers)
        self._green_power_w = green_power_w
        self._send_limit = send_limit
        self._publish_allocation = publish_allocation
        self._clock = clock
        self._wall_clock = wall_clock
        self.debounce_s = debounce_s
        self.tick_s = tick_s
        self.min_change_a = min_change_a
        self._sessions: dict[str, _Session] = {}
        self._sent: dict[str, float] = {}
        self._offline: set[str] = set()  # chargers gone: no limits until they reconnect
        self._failing: set[str] = set()  # sessions whose last limit was not applied (logged once)
        self._allocations: dict[str, dict[str, Any]] = {}
        self._trigger = asyncio.Event()
        self.hysteresis = hysteresis or HysteresisSettings()
        self._gate = OnOffGate(self.hysteresis)
        self._limiter = UpdateLimiter(self.hysteresis)
        self._phase_hold = PhaseHold(self.hysteresis)
        self._switch_phases = switch_phases
        self._green_forecast_wh = green_forecast_wh
        self.runs = 0
        self.last_run_s = 0.0
        # grid connection meters: the newest per-phase currents of each metered site, and its meter's state
        self._measured: dict[str, tuple[float, float, float]] = {}
        self._meter_state: dict[str, str] = {}
        self._uncontrolled: dict[str, tuple[float, ...]] = {}
        self._effective: dict[str, Site] = dict(self.sites)  # the sites as the last run allocated them
        # the planner's plan (smartgrid.planning sets it): per-slot grid budgets for departure sessions
        self._plan: Plan | None = None
        self._plan_start_s = 0.0
        self._plans = 0
        self.plan_wanted = asyncio.Event()  # set on the events that call for a new plan
        self._last_points: dict[str, Setpoint] = {}
        self._last_run_at: float | None = None

    # -- inputs ----------------------------------------------------------------------
    async def on_event(self, event: object) -> None:
        if isinstance(event, TransactionStarted):
            # kept whether or not the charger is placed yet: a charger registered (or moved to a site) on
            # another instance may reach this scheduler's world a moment after its first transaction
            key = f"{event.charge_point_id}/{event.connector_id}"
            spec = self.chargers.get(event.charge_point_id)
            self._sessions[key] = _Session(
                event.charge_point_id,
                event.connector_id,
                event.transaction_id,
                phases=spec.phases if spec is not None else 3,
                meter_start_wh=event.meter_start_wh,
            )
            self._forget(key)
            self._trigger.set()
            self.plan_wanted.set()
        elif isinstance(event, TransactionStopped):
            for key, session in list(self._sessions.items()):
                if session.charge_point_id == event.charge_point_id and session.transaction_id == event.transaction_id:
                    del self._sessions[key]
                    self._forget(key)
                    self._trigger.set()
                    self.plan_wanted.set()
        elif isinstance(event, MeterSample):
            metered = self._sessions.get(f"{event.charge_point_id}/{event.connector_id}")
            if metered is not None and event.energy_wh is not None and event.energy_wh >= metered.meter_start_wh:
                metered.energy_wh = event.energy_wh
            if metered is not None and event.current_a is not None:
                changed = metered.drawn_current_a is None or abs(metered.drawn_current_a - event.current_a) >= 1.0
                metered.drawn_current_a = event.current_a
                metered.drawn_at_s = self._clock()
                if changed:
                    self._trigger.set()
        elif isinstance(event, ChargerDisconnected):
            # Its sessions go on (chargers keep charging offline); no limits until it reconnects, then resent.
            if event.charge_point_id not in self._offline:
                self._offline.add(event.charge_point_id)
                log.info("scheduler: %s offline; no limits sent until it reconnects", event.charge_point_id)
            for key, session in self._sessions.items():
                if session.charge_point_id == event.charge_point_id:
                    self._sent.pop(key, None)
        elif isinstance(event, GridMeterReading):
            self._measured[event.site_id] = event.current_a
            self._meter_state[event.site_id] = "online"
            self._trigger.set()
        elif isinstance(event, GridMeterStateChanged):
            self._meter_state[event.site_id] = event.state
            if event.fallback:
                self._measured.pop(event.site_id, None)
            self._trigger.set()
        elif isinstance(event, ChargerConnected):
            if event.charge_point_id in self._offline:
                self._offline.discard(event.charge_point_id)
                log.info("scheduler: %s back online; its limits are sent again", event.charge_point_id)
            self._trigger.set()
        else:
            # Solar events (power, liveness) and anything else that may change the green power.
            self._trigger.set()

    def _forget(self, key: str) -> None:
        self._sent.pop(key, None)
        self._gate.forget(key)
        self._limiter.forget(key)
        self._phase_hold.forget(key)

    def trigger(self) -> None:
        self._trigger.set()

    # -- the world: sites and chargers, replaced whole whenever the store says they changed ---------------
    def set_sites(self, sites: Mapping[str, Site]) -> None:
        self.sites = dict(sites)
        for gone in set(self._allocations) - set(self.sites):
            del self._allocations[gone]
        self._trigger.set()

    def set_chargers(self, chargers: Mapping[str, ChargerSpec]) -> None:
        previous, self.chargers = self.chargers, dict(chargers)
        for key, session in self._sessions.items():
            spec, before = self.chargers.get(session.charge_point_id), previous.get(session.charge_point_id)
            if spec is not None and (before is None or before.phases != spec.phases) and not spec.phase_switching:
                session.phases = spec.phases
                self._sent.pop(key, None)
        self._trigger.set()

    def scheduled(self, charge_point_id: str) -> bool:
        """Whether this charger's sessions are allocated: it is known and at a known site."""
        spec = self.chargers.get(charge_point_id)
        return spec is not None and spec.site_id in self.sites

    # -- the plan ----------------------------------------------------------------------
    def session_keys(self) -> list[tuple[str, int]]:
        return [(s.charge_point_id, s.connector_id) for s in self._sessions.values()]

    def session_site(self, key: str) -> str | None:
        session = self._sessions.get(key)
        spec = self.chargers.get(session.charge_point_id) if session is not None else None
        return spec.site_id if spec is not None else None

    # -- the loop ----------------------------------------------------------------------
    async def run(self) -> None:
        """Recompute on every (debounced) trigger and at least every tick, until cancelled."""
        while True:
            try:
                async with asyncio.timeout(self.tick_s):
                    await self._trigger.wait()
                await asyncio.sleep(self.debounce_s)  # let a burst of events settle
            except TimeoutError:
                pass
            self._trigger.clear()
            await self.run_once()

    def green_power_w(self) -> float:
        return self._read_green()[0]

    def _read_green(self) -> tuple[float, bool]:
        """The green power and whether it could be read (NaN and errors count as 0 W, unreadable)."""
        try:
            green = float(self._green_power_w())
        except Exception:
            log.warning("scheduler: green power unreadable; counting 0 W", exc_info=True)
            return 0.0, False
        if not math.isfinite(green):
            return 0.0, False
        return max(0.0, green), True

    def _expected_green_wh(self, left_s: float, sharing: int) -> float:
        if self._green_forecast_wh is None or left_s <= 0:
            return 0.0
        try:
            forecast = float(self._green_forecast_wh(left_s))
        except Exception:
            log.warning("scheduler: green forecast unreadable; expecting none", exc_info=True)
            return 0.0
        return max(0.0, forecast) / max(1, sharing) if math.isfinite(forecast) else 0.0

    def effective_sites(self) -> dict[str, Site]:
        """Each site as the allocation sees it now: with a live grid meter, its fuse minus the load it does
        not control (smartgrid.grid); without one (none configured, or silent), its static limit and base load."""
        draws: dict[str, list[ManagedDraw]] = {}
        for key, session in self._sessions.items():
            spec = self.chargers.get(session.charge_point_id)
            if spec is not None and spec.site_id in self._measured:
                # a draw reported before the last limit was applied is the old limit's: the new one counts
                drawn = session.drawn_current_a if session.drawn_at_s >= session.sent_at_s else None
                draws.setdefault(spec.site_id, []).append(ManagedDraw(session.phases, drawn, self._sent.get(key)))
        sites: dict[str, Site] = {}
        self._uncontrolled = {}
        for site_id, site in self.sites.items():
            measured = self._measured.get(site_id)
            if measured is None:
                sites[site_id] = site
            else:
                sites[site_id], self._uncontrolled[site_id] = metered_site(site, measured, draws.get(site_id, ()))
        return sites

    def snapshot(self, green_w: float | None = None, now_s: float | None = None) -> Snapshot:
        now = self._clock() if now_s is None else now_s
        sharing = sum(1 for s in self._sessions.values() if s.mode in GATED_MODES or s.mode == "green_min")
        demands = []
        for key, session in sorted(self._sessions.items()):
            spec = self.chargers.get(session.charge_point_id)
            if spec is None or spec.site_id not in self.sites:
                continue  # not placed at a site (yet): not scheduled
            volts = self.sites[spec.site_id].voltage_v
            switching = (
                spec.phase_switching and self._switch_phases is not None and self._phase_hold.may_switch(key, now)
            )
            # the session's own range: its charger's, within what its EV said it takes (ISO 15118); an EV's power
            # as amperes on the most phases the allocation may use (a switching charger starts from three)
            floor_a, ceiling_a = session_bounds_a(spec, session.ev, 3 if switching else session.phases, volts)
            needed_wh = left_s = planned_a = None
            expected_wh = 0.0
            mode, priority = session.mode, session.priority
            if mode in ("green", "green_min"):
                wanted = session.wanted_energy_wh()
                if wanted is not None and session.delivered_wh() >= wanted:  # what was wanted is in: after the others
                    priority -= 1
            elif mode == "departure" and session.target_wh is not None:
                needed_wh = max(0.0, session.target_wh - session.delivered_wh())
                left_s = session.departure_s - now if session.departure_s is not None else None
                full_wh = ceiling_a * session.phases * volts * max(0.0, left_s or 0.0) / 3600
                tight = needed_wh > PLAN_TIGHT * full_wh or (left_s is not None and 0 < left_s <= PLAN_FINAL_S)
                planned_a = self._planned_grid_a(key, session, now, volts, tight)
                if planned_a is not None and tight and left_s:
                    # near the deadline, never below the steady current that still meets it
                    planned_a = max(planned_a, needed_wh * 3600.0 / (left_s * session.phases * volts))
                expected_wh = (
                    0.0
                    if session.committed or planned_a is not None
                    else self._expected_green_wh(left_s or 0.0, sharing)
                )
                # the charger cannot take more than its maximum, green or not: waiting for the sun is only
                # safe while the time left at full power keeps a margin over the energy still wanted
                if planned_a is None and needed_wh > min(expected_wh, DEADLINE_MARGIN * full_wh):
                    # no going back to waiting for the sun: a forecast hovering around the need would
                    # otherwise start and pause the session every few minutes
                    session.committed, expected_wh = True, 0.0
                if needed_wh <= 0:  # target met: solar only, after every session that still needs energy
                    mode, priority, needed_wh, left_s = "green", priority - 1, None, None
            demands.append(
                SessionDemand(
                    key=key,
                    charge_point_id=session.charge_point_id,
                    connector_id=session.connector_id,
                    site_id=spec.site_id,
                    phases=session.phases,
                    min_current_a=floor_a,
                    max_current_a=ceiling_a,
                    drawn_current_a=session.drawn_current_a,
                    offered_current_a=self._sent.get(key),
                    mode=mode,
                    priority=priority,
                    energy_needed_wh=needed_wh,
                    time_left_s=left_s,
                    expected_green_wh=expected_wh,
                    planned_grid_a=planned_a,
                    planned_a=self._planned_a(key, session, now, volts),
                    phase_switching=switching,
                )
            )
        self._effective = self.effective_sites()
        return Snapshot(self.green_power_w() if green_w is None else green_w, self._effective, demands)

    def _gated(self, snapshot: Snapshot, readable: bool, now_s: float) -> Snapshot:
        """Apply the enable/disable delays to the sessions that follow the sun."""
        gated = [d for d in snapshot.sessions if d.mode in GATED_MODES]
        if not gated or not self.hysteresis.delays:
            return snapshot
        if not readable:  # fail-safe: no holding on from the grid while blind
            for d in gated:
                self._gate.force_off(d.key)
            return snapshot
        on = {d.key for d in gated if self._gate.is_on(d.key)}
        # A: do the sessions now charging still have enough green among themselves?
        only_on = [replace(d, enabled=d.key in on) if d.mode in GATED_MODES else d for d in snapshot.sessions]
        h = self.hysteresis
        still = allocate(
            replace(snapshot, sessions=only_on, green_power_w=snapshot.green_power_w + h.disable_threshold_w)
        )
        # B: would the waiting ones get their minimum next to those (held at least at their minimum)?
        with_held = [replace(d, hold_on=d.key in on) for d in snapshot.sessions]
        could = allocate(
            replace(snapshot, sessions=with_held, green_power_w=max(0.0, snapshot.green_power_w - h.enable_threshold_w))
        )
        final = []
        for d in snapshot.sessions:
            site = snapshot.sites.get(d.site_id)
            volts = site.voltage_v if site is not None else snapshot.voltage_v
            if d.mode not in GATED_MODES or departure_current_a(d, d.phases, volts, d.max_current_a) > 0:
                final.append(d)  # not following the sun (a departure plan that needs the grid starts at once)
                continue
            wants = (still if d.key in on else could)[d.key].limit_a > 0
            decision = self._gate.decide(d.key, wants, now_s)
            final.append(replace(d, enabled=decision.enabled, hold_on=decision.hold_on))
        return replace(snapshot, sessions=final)

    async def run_once(self) -> dict[str, Setpoint]:
        started = now = self._clock()
        self._count_grid(now)
        green_w, readable = self._read_green()
        snapshot = self._gated(self.snapshot(green_w, now), readable, now)
        setpoints = allocate(snapshot)
        self._last_points = setpoints
        for key, point in setpoints.items():
            session = self._sessions.get(key)
            if session is not None and session.phases != point.phases and point.limit_a > 0:
                await self._switch(key, session, point.phases, now)
        must_cut = self._sites_over(setpoints)
        cut_all = self._cuts_add_up(setpoints)
        sends = [
            self._send(key, point, now)
            for key, point in setpoints.items()
            if point.charge_point_id not in self._offline
            and (
                self._changed(key, point.limit_a)
                or ((cut_all or point.site_id in must_cut) and self._cut(key, point.limit_a))
            )
            and self._limiter.may_send(key, self._sent.get(key), point.limit_a, now)
        ]
        if sends:
            await asyncio.gather(*sends)
        await self._publish(snapshot, setpoints)
        self.runs += 1
        self.last_run_s = self._clock() - started
        return setpoints

    def _cut(self, key: str, limit_a: float) -> bool:
        sent = self._sent.get(key)
        return sent is not None and limit_a < sent

    def _cuts_add_up(self, setpoints: dict[str, Setpoint]) -> bool:
        """Whether the cuts below min_change_a would together leave more drawn than one session's step.

        Each is small, but when a session is admitted the others all come down a little: kept, together
        they draw more than the green power there is, from the grid."""
        skipped = step = 0.0
        for key, point in setpoints.items():
            if point.limit_a <= 0:
                continue
            watts_per_a = point.power_w / point.limit_a
            step = max(step, self.min_change_a * watts_per_a)
            sent = self._sent.get(key)
            if sent is not None and point.limit_a < sent and not self._changed(key, point.limit_a):
                skipped += (sent - point.limit_a) * watts_per_a
        return skipped > step + 1e-9

    def _sites_over(self, setpoints: dict[str, Setpoint]) -> set[str]:
        """Sites whose chargers would exceed the limit if small cuts (below min_change_a) were skipped."""
        kept: dict[str, float] = {}
        for key, point in setpoints.items():
            sent = self._sent.get(key)
            skipped = sent is not None and not self._changed(key, point.limit_a)
            kept[point.site_id] = kept.get(point.site_id, 0.0) + (
                max(sent, point.limit_a) if skipped and sent is not None else point.limit_a
            )
        over = set()
        for site_id, total in kept.items():
            site = self._effective.get(site_id) or self.sites.get(site_id)
            capacity = max(0.0, site.grid_limit_a - site.base_load_a) if site is not None else 0.0
            if total > capacity + 1e-6:
                over.add(site_id)
        return over

    def _changed(self, key: str, limit_a: float) -> bool:
        sent = self._sent.get(key)
        if sent is None:
            return True
        if (sent == 0) != (limit_a == 0):
            return True
        return abs(sent - limit_a) >= self.min_change_a

    async def _switch(self, key: str, session: _Session, phases: int, now_s: float) -> None:
        if self._switch_phases is None:
            return
        try:
            await self._switch_phases(session.charge_point_id, session.connector_id, phases)
        except Exception as exc:
            log.warning("scheduler: %s not switched to %d phases (%s); retrying next run", key, phases, exc)
            return
        session.phases = phases
        self._phase_hold.switched(key, now_s)
        self._sent.pop(key, None)  # the limit goes out again for the new wiring

    async def _send(self, key: str, point: Setpoint, now_s: float) -> None:
        session = self._sessions.get(key)
        transaction_id = session.transaction_id if session else None
        previous = self._sent.get(key)
        try:
            await self._send_limit(point.charge_point_id, point.connector_id, point.limit_a, transaction_id)
        except Exception as exc:
            if key not in self._failing:  # once, not at every run
                self._failing.add(key)
                log.warning("scheduler: limit %.1f A for %s not applied (%s); retrying", point.limit_a, key, exc)
            else:
                log.debug("scheduler: limit %.1f A for %s still not applied (%s)", point.limit_a, key, exc)
            self._sent.pop(key, None)
            return
        if key in self._failing:
            self._failing.discard(key)
            log.info("scheduler: limit %.1f A for %s applied", point.limit_a, key)
        self._limiter.sent(key, previous, point.limit_a, now_s)
        self._sent[key] = point.limit_a
        if session is not None:
            session.sent_at_s = now_s
