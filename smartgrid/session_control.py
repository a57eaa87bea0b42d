"""Part of the Scheduler: sessions adopted from the store, and their modes, targets and stays as told."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from smartgrid.plan_following import SessionState
from smartgrid.ports import ChargerSpec, EVRange


class SessionControl:
    # the Scheduler's (annotations only: a stub method here would shadow the real one)
    chargers: Mapping[str, ChargerSpec]
    _sessions: dict[str, SessionState]
    _trigger: asyncio.Event
    plan_wanted: asyncio.Event
    _forget: Callable[[str], None]
    scheduled: Callable[[str], bool]

    def adopt(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int,
        *,
        meter_start_wh: float,
        energy_wh: float | None,
        mode: str = "green",
        priority: int = 0,
        target_wh: float | None = None,
        departure_s: float | None = None,
        ev: EVRange | None = None,
    ) -> None:
        """A session already running (read from the store after a restart or a failover), with its energy so far
        and, when its EV told its range (ISO 15118), that range."""
        key = f"{charge_point_id}/{connector_id}"
        current = self._sessions.get(key)
        if current is not None and current.transaction_id == transaction_id:
            session = current
        else:
            spec = self.chargers.get(charge_point_id)
            session = SessionState(
                charge_point_id,
                connector_id,
                transaction_id,
                phases=spec.phases if spec is not None else 3,
                meter_start_wh=meter_start_wh,
            )
            self._sessions[key] = session
            self._forget(key)
        if (
            energy_wh is not None
            and energy_wh >= meter_start_wh
            and (session.energy_wh is None or energy_wh > session.energy_wh)
        ):
            session.energy_wh = energy_wh
        self._apply_mode(session, mode, priority, target_wh, departure_s)
        if ev is not None:
            session.ev = ev
        self._trigger.set()
        self.plan_wanted.set()

    def drop_others(self, running: set[tuple[str, int]]) -> None:
        """Forget sessions the store no longer has running (stopped while another instance led)."""
        for key, session in list(self._sessions.items()):
            if (session.charge_point_id, session.transaction_id) not in running:
                del self._sessions[key]
                self._forget(key)

    @staticmethod
    def _apply_mode(
        session: SessionState, mode: str, priority: int, target_wh: float | None, departure_s: float | None
    ) -> None:
        if mode == "departure" and (target_wh is None or departure_s is None):
            mode = "green"
        changed = (session.target_wh, session.departure_s) != (target_wh, departure_s) or session.mode != mode
        session.mode, session.priority = mode, priority
        session.target_wh, session.departure_s = (target_wh, departure_s) if mode == "departure" else (None, None)
        if mode == "departure":
            session.wanted_wh, session.leave_s = target_wh, departure_s
        if changed:
            session.committed = False

    def set_mode(self, charge_point_id: str, connector_id: int, mode: str, priority: int = 0) -> bool:
        session = self._sessions.get(f"{charge_point_id}/{connector_id}")
        if session is None or not self.scheduled(charge_point_id):
            return False
        session.mode, session.priority = mode, priority
        self._trigger.set()
        self.plan_wanted.set()
        return True

    def set_target(self, charge_point_id: str, connector_id: int, energy_wh: float, departure_s: float) -> bool:
        """Departure mode: deliver energy_wh in this session by departure_s (the scheduler's clock)."""
        session = self._sessions.get(f"{charge_point_id}/{connector_id}")
        if session is None or not self.scheduled(charge_point_id):
            return False
        session.mode, session.target_wh, session.departure_s = "departure", energy_wh, departure_s
        session.wanted_wh, session.leave_s = energy_wh, departure_s
        session.committed = False
        self._trigger.set()
        self.plan_wanted.set()
        return True

    def set_ev_range(self, charge_point_id: str, connector_id: int, transaction_id: int, ev: EVRange | None) -> bool:
        """The EV's own range (ISO 15118 charging needs) for its running session: its floor and ceiling from now."""
        session = self._sessions.get(f"{charge_point_id}/{connector_id}")
        if session is None or session.transaction_id != transaction_id:
            return False
        session.ev = ev
        self._trigger.set()
        self.plan_wanted.set()
        return True

    def set_stay(self, charge_point_id: str, connector_id: int, energy_wh: float, departure_s: float) -> bool:
        """Any mode, for the planner: the energy the driver wants and when they leave (the scheduler's clock)."""
        session = self._sessions.get(f"{charge_point_id}/{connector_id}")
        if session is None:
            return False
        session.wanted_wh, session.leave_s = energy_wh, departure_s
        self.plan_wanted.set()
        return True
