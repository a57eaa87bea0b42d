"""Prometheus metrics: one registry per Platform (so tests can run several)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.hot_metrics import HotCollector, LabelledCounter, LabelledHistogram

if TYPE_CHECKING:
    from gateway.bus import Bus
    from gateway.journal import JournaledRepository
    from smartgrid.scheduler import Scheduler
    from solar.batteries import BatteryTelemetry
    from solar.ingest import SolarIngest
    from solar.meters import GridMeters

_FOREIGN = {"ForeignTransaction": "foreign", "UnknownTransaction": "unknown"}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.chargers_connected = Gauge(
            "coopgrid_chargers_connected",
            "Charge points with an open OCPP connection",
            registry=self.registry,
        )
        self.events = LabelledCounter("coopgrid_events_total", "Domain events by type", ["type"])
        self.solar_power_w = Gauge(
            "coopgrid_solar_power_watts", "Live green power of the cooperative", registry=self.registry
        )
        self.ev_power_w = Gauge("coopgrid_ev_power_watts", "Live power drawn by EVs", registry=self.registry)
        self.bus_reconnects = Gauge("coopgrid_bus_reconnects", "MQTT reconnects since start", registry=self.registry)
        self._declare_ocpp()
        self._declare_transport()
        self._declare_scheduler()
        self._declare_meters()

    def _declare_ocpp(self) -> None:
        # counted on every message: plain numbers, made Prometheus families at scrape time (gateway.hot_metrics)
        self.ocpp_messages = LabelledCounter(
            "coopgrid_ocpp_messages_total",
            "OCPP calls by direction (in: from chargers, out: to chargers), action and outcome",
            ["direction", "action", "outcome"],
        )
        self.ocpp_foreign_transactions = Counter(
            "coopgrid_ocpp_foreign_transactions",
            "Charger messages naming a transaction that is not the sender's (reason: foreign, another "
            "charger's; unknown, none at all): answered, changing nothing",
            ["action", "reason"],
            registry=self.registry,
        )
        self.ocpp_latency = LabelledHistogram(
            "coopgrid_ocpp_call_seconds",
            "Time to handle a charger's call (in) or to get a charger's answer (out)",
            "direction",
            (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.registry.register(HotCollector(self.ocpp_messages, self.ocpp_latency, self.events))

    def _declare_transport(self) -> None:
        """The bus, the solar ingest, InfluxDB."""
        self.solar_messages = Gauge(
            "coopgrid_solar_messages", "Inverter telemetry messages received since start", registry=self.registry
        )
        self.solar_parsed = Gauge(
            "coopgrid_solar_parsed",
            "Inverter telemetry messages this instance parsed since start (with a share group: its share)",
            registry=self.registry,
        )
        self.bus_queued = Gauge(
            "coopgrid_bus_queue_depth", "MQTT publications waiting for the broker", registry=self.registry
        )
        self.bus_dropped = Gauge(
            "coopgrid_bus_dropped",
            "MQTT publications dropped since start (the oldest, when the queue was full)",
            registry=self.registry,
        )
        self.bus_failed = Gauge(
            "coopgrid_bus_failed_publications",
            "MQTT publications refused or failed for themselves (a bad topic or payload) since start",
            registry=self.registry,
        )
        self.refused_identities = Counter(
            "coopgrid_ocpp_refused_identities",
            "WebSocket upgrades refused because the charge point identity breaks OCPP's rules",
            registry=self.registry,
        )
        self.influx_queue = Gauge(
            "coopgrid_influx_queue_depth", "Points waiting to be written to InfluxDB", registry=self.registry
        )

    def _declare_scheduler(self) -> None:
        self.scheduler_run_s = Gauge(
            "coopgrid_scheduler_run_seconds", "Duration of the scheduler's last allocation run", registry=self.registry
        )
        self.scheduler_runs = Gauge("coopgrid_scheduler_runs", "Allocation runs since start", registry=self.registry)
        self.green_routed_w = Gauge(
            "coopgrid_green_power_routed_watts", "Green power the scheduler routes into EVs now", registry=self.registry
        )
        self.scheduler_leader = Gauge(
            "coopgrid_scheduler_leader", "1 when this instance runs the scheduler", registry=self.registry
        )
        self.scheduler_failures = Counter(
            "coopgrid_scheduler_failures",
            "Exceptions that ended the scheduler (each released leadership)",
            registry=self.registry,
        )
        self.solar_rejects = Gauge(
            "coopgrid_solar_rejects", "Rejected solar telemetry by reason", ["reason"], registry=self.registry
        )
        self.journal_pending = Gauge(
            "coopgrid_journal_pending",
            "Transaction entries journaled while the database was away, not yet written to it",
            registry=self.registry,
        )
        self.database_outages = Gauge(
            "coopgrid_database_outages", "Times the database went away since start", registry=self.registry
        )
        self.reserved_transaction_ids = Gauge(
            "coopgrid_reserved_transaction_ids",
            "Transaction ids reserved for answering starts while the database is away",
            registry=self.registry,
        )

    def _declare_meters(self) -> None:
        self.meter_fallback = Gauge(
            "coopgrid_grid_meter_fallback",
            "1 while a metered site runs on its static grid limit (its meter silent, offline or not heard yet)",
            ["site"],
            registry=self.registry,
        )
        self.meter_current = Gauge(
            "coopgrid_grid_meter_current_amperes",
            "The newest current of each phase at a site's grid connection meter",
            ["site", "phase"],
            registry=self.registry,
        )
        self.meter_uncontrolled = Gauge(
            "coopgrid_grid_uncontrolled_load_amperes",
            "The load the scheduler does not control at a metered site (largest phase; the base load it uses)",
            ["site"],
            registry=self.registry,
        )
        self.meter_rejects = Gauge(
            "coopgrid_grid_meter_rejects", "Rejected grid meter readings by reason", ["reason"], registry=self.registry
        )
        self.battery_soc = Gauge(
            "coopgrid_battery_soc",
            "A battery's measured state of charge (0-1), live",
            ["battery"],
            registry=self.registry,
        )
        self.battery_power_w = Gauge(
            "coopgrid_battery_power_watts", "A battery's power, + charging", ["battery"], registry=self.registry
        )
        self.battery_rejects = Gauge(
            "coopgrid_battery_rejects", "Rejected battery telemetry by reason", ["reason"], registry=self.registry
        )

    def sample_batteries(self, batteries: BatteryTelemetry) -> None:
        for battery_id in batteries.batteries:
            view = batteries.view(battery_id) or {}
            soc = batteries.soc(battery_id)
            if soc is not None:
                self.battery_soc.labels(battery=battery_id).set(soc)
            self.battery_power_w.labels(battery=battery_id).set(view.get("power_w") or 0.0)
        for reason, count in batteries.rejects.items():
            self.battery_rejects.labels(reason=reason).set(count)

    def sample_meters(self, meters: GridMeters, scheduler: Scheduler, sites: list[str]) -> None:
        for site_id in meters.meters:
            view = meters.view(site_id) or {}
            self.meter_fallback.labels(site=site_id).set(1 if view.get("fallback", True) else 0)
            for phase, current in enumerate(view.get("current_a") or (), start=1):
                if current is not None:
                    self.meter_current.labels(site=site_id, phase=f"L{phase}").set(current)
            allocation = scheduler.allocation(site_id) if site_id in sites else None
            grid = (allocation or {}).get("grid") or {}
            if grid.get("source") == "meter":
                self.meter_uncontrolled.labels(site=site_id).set(grid.get("base_load_a", 0.0))
        for reason, count in meters.rejects.items():
            self.meter_rejects.labels(reason=reason).set(count)

    def scheduler_failed(self, error: BaseException) -> None:
        self.scheduler_failures.inc()

    def observe(self, direction: str, action: str, outcome: str, seconds: float) -> None:
        # Called for every OCPP message: plain increments, no lock (gateway.hot_metrics).
        self.ocpp_messages.inc((direction, action, outcome))
        self.ocpp_latency.observe(direction, seconds)
        reason = _FOREIGN.get(outcome)
        if reason is not None:  # the central system's outcome for a message naming another's transaction
            self.ocpp_foreign_transactions.labels(action=action, reason=reason).inc()

    def count_event(self, name: str) -> None:
        self.events.inc((name,))

    def on_event(self, event: object) -> None:
        self.count_event(type(event).__name__)

    def sample(
        self,
        *,
        solar_w: float,
        ev_w: float,
        bus: Bus,
        solar: SolarIngest,
        scheduler: Scheduler,
        allocations: list[dict[str, Any] | None],
        leader: bool,
        influx_queue: int | None,
        chargers_connected: int,
        journal: JournaledRepository | None = None,
    ) -> None:
        """The gauges, read off the parts once a second."""
        self.solar_power_w.set(solar_w)
        self.ev_power_w.set(ev_w)
        self.chargers_connected.set(chargers_connected)
        self.bus_reconnects.set(bus.reconnects)
        self.solar_messages.set(bus.received)
        self.solar_parsed.set(solar.parsed)
        self.bus_queued.set(bus.queued)
        self.bus_dropped.set(bus.dropped)
        self.bus_failed.set(bus.failed)
        if influx_queue is not None:
            self.influx_queue.set(influx_queue)
        self.scheduler_leader.set(1 if leader else 0)
        self.scheduler_run_s.set(scheduler.last_run_s)
        self.scheduler_runs.set(scheduler.runs)
        self.green_routed_w.set(sum(float(a.get("green_w", 0.0)) for a in allocations if a))
        for reason, count in solar.rejects.items():
            self.solar_rejects.labels(reason=reason).set(count)
        if journal is not None:
            self.journal_pending.set(journal.pending)
            self.database_outages.set(journal.outages)
            self.reserved_transaction_ids.set(journal.reserved_ids)
