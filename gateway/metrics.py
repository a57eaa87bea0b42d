"""Prometheus metrics: one registry per Platform (so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.chargers_connected = Gauge(
            "coopgrid_chargers_connected",
            "Charge points with an open OCPP connection",
            registry=self.registry,
        )
        self.events = Counter("coopgrid_events_total", "Domain events by type", ["type"], registry=self.registry)
        self.solar_power_w = Gauge(
            "coopgrid_solar_power_watts", "Live green power of the cooperative", registry=self.registry
        )
        self.ev_power_w = Gauge("coopgrid_ev_power_watts", "Live power drawn by EVs", registry=self.registry)
        self.bus_reconnects = Gauge("coopgrid_bus_reconnects", "MQTT reconnects since start", registry=self.registry)
        self.solar_rejects = Gauge(
            "coopgrid_solar_rejects", "Rejected solar telemetry by reason", ["reason"], registry=self.registry
        )
