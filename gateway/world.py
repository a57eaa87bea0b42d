"""The scheduler's world, read from the store: sites, the chargers at them, the running sessions and their modes.

The store is the one truth (DESIGN.md: chargers, sites, sessions, modes and targets live in SQL). At start
the configuration seeds it: the sites and chargers the file names are written over what is stored (the
file wins for what it names; what only REST created stays). Any instance that changes the world (REST)
writes the store and then announces it on `{prefix}/cluster/world`; every instance reloads its
scheduler's sites and chargers from the store and, for a session's mode, that session. The instance that
wins leadership reloads everything and re-adopts the running sessions, with the energy they have drawn,
before its first allocation. A session's EV range (ISO 15118 charging needs, stored with it as `ev_needs`)
travels the same way: stored, adopted here, announced, and read back with the session by the leader.
Allocations are published retained on `sites/{id}/allocation`; every instance keeps the newest one of each
site, so any instance answers GET /api/sites/{id}/allocation.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from chargepoints.central import CentralSystem
from chargepoints.iso15118 import ChargingNeeds
from chargepoints.ports import TransactionRecord
from gateway.bus import Bus
from gateway.settings import Settings
from gateway.storage import Store
from smartgrid.allocation import Site
from smartgrid.ports import ChargerSpec, EVRange
from smartgrid.scheduler import Scheduler

log = logging.getLogger(__name__)


def ev_range(ev_needs: Mapping[str, Any] | None) -> EVRange | None:
    """The scheduler's EVRange from a session's stored `ev_needs` (ChargingNeeds.view()): AC currents per phase
    (a DC EV's current is on its DC side: only its power bounds it at the station), powers over the phases."""
    if not ev_needs:
        return None

    def number(name: str, default: float) -> float:
        value = ev_needs.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        return default

    dc = str(ev_needs.get("energy_transfer", "")).startswith("DC")
    wanted = number("session_energy_wh", -1.0)
    return EVRange(
        min_current_a=0.0 if dc else number("min_charge_current_a", 0.0),
        max_current_a=math.inf if dc else number("max_charge_current_a", math.inf),
        min_power_w=number("min_charge_power_w", 0.0),
        max_power_w=number("max_charge_power_w", math.inf),
        energy_wh=wanted if wanted >= 0 else None,
    )


class World:
    def __init__(
        self,
        store: Store,
        scheduler: Scheduler,
        central: CentralSystem,
        bus: Bus,
        *,
        prefix: str,
        clock: Callable[[], datetime],
        scheduler_clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.scheduler = scheduler
        self.central = central
        self.bus = bus
        self.clock = clock
        self.scheduler_clock = scheduler_clock
        self.sites: dict[str, dict[str, Any]] = {}  # id -> the stored site (as REST shows it)
        self.allocations: dict[str, dict[str, Any]] = {}  # the newest allocation of each site, from the bus
        self.topic = f"{prefix}/cluster/world"
        self._allocation_prefix = f"{prefix}/sites/"
        bus.subscribe(self.topic, self._on_change, qos=1)
        bus.subscribe(f"{prefix}/sites/+/allocation", self._on_allocation, qos=1)

    # -- seeding and loading ------------------------------------------------------------------
    async def seed(self, settings: Settings) -> None:
        """The configuration's sites and chargers' specs into the store (the file wins for what it names)."""
        for site in settings.sites:
            await self.store.put_site(
                {
                    "id": site.id,
                    "name": site.name,
                    "cooperative_id": site.cooperative_id,
                    "grid_limit_a": site.grid_limit_a,
                    "base_load_a": site.base_load_a,
                    "voltage_v": site.voltage_v,
                }
            )
        for charger in settings.chargers:
            await self.store.set_charger_spec(
                charger.id,
                phases=charger.phases,
                min_current_a=charger.min_current_a,
                max_current_a=charger.max_current_a,
                phase_switching=charger.phase_switching,
            )

    async def reload(self) -> None:
        """Sites and chargers from the store into the scheduler."""
        sites = {site["id"]: site for site in await self.store.list_sites()}
        specs = await self.store.charger_specs()
        self.sites = sites
        self.scheduler.set_sites(
            {
                s["id"]: Site(
                    id=s["id"], grid_limit_a=s["grid_limit_a"], base_load_a=s["base_load_a"], voltage_v=s["voltage_v"]
                )
                for s in sites.values()
            }
        )
        self.scheduler.set_chargers({cp: ChargerSpec(**spec) for cp, spec in specs.items()})

    def scheduled(self, charge_point_id: str) -> bool:
        """The charger is at a known site (as far as this instance has read the store)."""
        return self.scheduler.scheduled(charge_point_id)

    def site_cooperatives(self) -> dict[str, str | None]:
        return {site_id: site.get("cooperative_id") for site_id, site in self.sites.items()}

    # -- sessions -----------------------------------------------------------------------------
    def adopt(self, record: TransactionRecord) -> None:
        energy = self.central.unflushed_register(record.id)
        if energy is None:
            energy = record.meter_last_wh
        departure_s = None
        if record.departure_ts is not None:
            departure_s = self.scheduler_clock() + (record.departure_ts - self.clock()).total_seconds()
        self.scheduler.adopt(
            record.charge_point_id,
            record.connector_id,
            record.id,
            meter_start_wh=record.meter_start_wh,
            energy_wh=energy,
            mode="priority" if record.priority_charging else record.mode,
            priority=record.priority,
            target_wh=record.target_wh,
            departure_s=departure_s,
            ev=ev_range(record.ev_needs),
        )

    async def set_session_mode(
        self, record: TransactionRecord, mode: str, priority: int, target_wh: float | None, departure: datetime | None
    ) -> TransactionRecord:
        """A running session's mode and target: stored first (the leader, wherever it runs, reads it from
        there, now and after a restart or failover), adopted here at once, announced to every other instance."""
        await self.store.set_session_mode(record.id, mode, priority, target_wh, departure)
        stored = replace(record, mode=mode, priority=priority, target_wh=target_wh, departure_ts=departure)
        self.adopt(stored)  # this instance at once (it may be the leader) ...
        self.announce(session_id=record.id)  # ... and every other one
        return stored

    async def set_priority_charging(self, record: TransactionRecord, active: bool) -> None:
        """OCPP 2.1 priority charging on or off (chargepoints.SessionPriorities): stored, then the session is
        adopted in mode `priority`, or in its own mode again, here at once and on every other instance."""
        await self.store.set_priority_charging(record.id, active)
        self.adopt(replace(record, priority_charging=active))
        self.announce(session_id=record.id)

    async def set_departure(self, record: TransactionRecord, energy_wh: float, departure_ts: datetime) -> bool:
        """An EV's ISO 15118 charging needs as its session's departure target (chargepoints.DepartureTargets)."""
        if not self.scheduled(record.charge_point_id):
            return False
        await self.set_session_mode(record, "departure", record.priority, energy_wh, departure_ts)
        return True

    async def set_ev_needs(self, record: TransactionRecord, needs: ChargingNeeds, energy_wh: float | None) -> None:
        """An EV's ISO 15118 charging needs (chargepoints.DepartureTargets): stored with its session (what REST
        shows), its range adopted here as the session's floor and ceiling, announced to every other instance.
        `energy_wh`: what the EV wants in this session, counted from its start (for the planner)."""
        stored = {**needs.view(), "session_energy_wh": energy_wh, "reported_at": self.clock().isoformat()}
        await self.store.set_ev_needs(record.id, stored)
        self.scheduler.set_ev_range(record.charge_point_id, record.connector_id, record.id, ev_range(stored))
        if self.scheduled(record.charge_point_id):
            self.announce(session_id=record.id)

    async def adopt_running(self) -> int:
        """Every running session in the store into the scheduler (after a restart or a failover)."""
        running = await self.store.list_transactions(active=True, limit=1_000_000)
        self.scheduler.drop_others({(r.charge_point_id, r.id) for r in running})
        for record in running:
            self.adopt(record)
        return len(running)

    async def lead(self) -> None:
        """This instance has just won leadership: load everything, adopt the sessions, then schedule."""
        await self.reload()
        adopted = await self.adopt_running()
        log.info("scheduler: leading with %d sites and %d running sessions", len(self.sites), adopted)
        self.scheduler.trigger()  # the first allocation goes out after the debounce, not after a tick
        await self.scheduler.run()

    # -- changes across instances -------------------------------------------------------------------
    def announce(self, *, session_id: int | None = None) -> None:
        """Tell every instance (this one included) that the stored world changed."""
        self.bus.publish(self.topic, {"session_id": session_id}, qos=1)

    async def _on_change(self, topic: str, payload: bytes) -> None:
        try:
            message = json.loads(payload)
            session_id = message.get("session_id") if isinstance(message, dict) else None
            if session_id is None:  # chargers moved or registered elsewhere: this instance's records too
                self.central.load_records(await self.store.load_chargers())
            await self.reload()
            if isinstance(session_id, int):
                record = await self.store.get_transaction(session_id)
                if record is not None and record.active:
                    self.adopt(record)
        except Exception:
            log.warning("world: change not applied (read again at the next reload)", exc_info=True)

    async def _on_allocation(self, topic: str, payload: bytes) -> None:
        try:
            allocation = json.loads(payload)
        except ValueError:
            return
        if isinstance(allocation, dict) and isinstance(allocation.get("site_id"), str):
            self.allocations[allocation["site_id"]] = allocation

    def allocation(self, site_id: str, leading: bool) -> dict[str, Any] | None:
        """The leader's own allocation; elsewhere the newest one received."""
        own = self.scheduler.allocation(site_id) if leading else None
        return own if own is not None else self.allocations.get(site_id)
