"""The batteries' edge: their telemetry built from the configuration, and the plan's setpoints sent to them.

The setpoint of each battery is the current slot's planned power (smartgrid.planning.battery_setpoints_w),
a discharge cut to what the site's EVs draw now (a battery feeds EVs, not the grid),
encoded in the battery's layout (solar.batteries) and published every few seconds while this instance leads
and a plan stands, each one valid for `setpoint_valid_s`: a battery that hears nothing more idles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from gateway.bus import Bus
from gateway.settings import BatteryConfig
from smartgrid.planner import Plan
from smartgrid.planning import battery_setpoints_w, planned_soc
from solar.batteries import BatterySpec, BatteryTelemetry, Publish
from solar.events import BatteryReading

REPLAN_SOC_MISS = 0.05  # a measured state of charge this far from the plan's expectation asks for a new plan
REPLAN_AT_MOST_S = 30.0  # ... but the batteries ask at most this often


def build_battery_telemetry(
    batteries: Sequence[BatteryConfig], *, publish: Publish, clock: Callable[[], datetime], prefix: str
) -> BatteryTelemetry:
    return BatteryTelemetry(
        batteries={
            b.id: BatterySpec(
                id=b.id,
                site_id=b.site_id,
                max_power_w=b.power_kw * 1000.0,
                layout=b.layout,
                topic=b.topic,
                timeout_s=b.timeout_s,
                vebus_instance=b.vebus_instance,
                phases=b.phases,
            )
            for b in batteries
        },
        publish=publish,
        clock=clock,
        prefix=prefix,
    )


class BatterySetpoints:
    """Sends each planned battery the current slot's power; remembers what it sent last."""

    # the events on_event handles: the event hub hands it no other
    event_types: tuple[type, ...] = (BatteryReading,)

    def __init__(
        self,
        bus: Bus,
        telemetry: BatteryTelemetry,
        batteries: Sequence[BatteryConfig],
        *,
        plan: Callable[[], tuple[Plan, float] | None],
        clock: Callable[[], float],
        replan: Callable[[], None] = lambda: None,
        site_ev_power_w: Callable[[str], float] | None = None,
    ) -> None:
        self._bus = bus
        self._telemetry = telemetry
        self._valid_s = {b.id: b.setpoint_valid_s for b in batteries}
        self._site_of = {b.id: b.site_id for b in batteries}
        self._site_ev_power_w = site_ev_power_w
        self._plan = plan
        self._clock = clock
        self._replan = replan
        self._replanned_s: float | None = None
        self.sent: dict[str, float] = {}  # battery -> the last setpoint, W (+ charging)
        # battery -> the last plans' (state of charge, where it came from), gateway.planning_feeds.soc_source
        self.soc_sources: dict[str, list[tuple[float, str]]] = {}

    def publish(self) -> dict[str, float]:
        current = self._plan()
        if current is None or not self._valid_s:
            return {}
        plan, start_s = current
        points = battery_setpoints_w(plan, start_s, self._clock())
        for battery_id, planned_w in points.items():
            if battery_id not in self._valid_s:
                continue
            power_w = planned_w
            if power_w < 0 and self._site_ev_power_w is not None:
                # a battery feeds its site's EVs, never the grid: no more than they draw now (the plan's
                # discharge assumed EVs that may have left, or charge slower than planned)
                power_w = max(power_w, -max(0.0, self._site_ev_power_w(self._site_of[battery_id])))
            points[battery_id] = power_w
            for topic, payload in self._telemetry.setpoint_messages(battery_id, power_w, self._valid_s[battery_id]):
                self._bus.publish(topic, payload, qos=1)
            self.sent[battery_id] = round(power_w, 1)
        return points

    def estimated_soc(self, battery_id: str) -> float | None:
        """The current plan's expectation for now (the planner's own estimate while telemetry is not live)."""
        current = self._plan()
        if current is None:
            return None
        plan, start_s = current
        return planned_soc(plan, start_s, self._clock(), battery_id)

    def on_event(self, event: object) -> None:
        """A battery's telemetry came live (its first reading), or says the plan's state of charge is off: plan
        again soon (at most once every REPLAN_AT_MOST_S for the batteries' sake)."""
        wanted = False
        if isinstance(event, BatteryReading) and self._last_source(event.battery_id) != "measured":
            # the last plan did not count on the measured state of charge yet. Asked at a reading, not at the
            # state change to online: that one may come just before the first value, and a plan made then
            # would hold the next back for REPLAN_AT_MOST_S.
            wanted = True
        elif isinstance(event, BatteryReading):
            expected = self.estimated_soc(event.battery_id)
            wanted = expected is not None and abs(expected - event.soc) > REPLAN_SOC_MISS
        now = self._clock()
        if wanted and (self._replanned_s is None or now - self._replanned_s >= REPLAN_AT_MOST_S):
            self._replanned_s = now
            self._replan()

    def _last_source(self, battery_id: str) -> str | None:
        recent = self.soc_sources.get(battery_id)
        return recent[-1][1] if recent else None
