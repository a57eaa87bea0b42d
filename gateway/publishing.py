"""What the platform tells the outside: contract topics on MQTT, series into InfluxDB, limits to chargers.

- `Outbound` publishes each charger's status (retained, on every change), its meter samples (the
  newest per connector, once a second: a charger flooding meter values costs the broker nothing extra)
  and each site's allocation (retained), and writes the park and cooperative series to InfluxDB.
- `Outbound` also publishes each grid meter's state (retained, `sites/{id}/meter/state`): `online`, or
  `silent`/`offline` with `fallback: true` while the site runs on its static grid limit.
- `ChargerLimits` is the scheduler's port to the chargers: a limit travels through the cluster to the
  instance holding the charger, with the phases the scheduler last switched the charger to.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chargepoints.central import CentralSystem
from chargepoints.errors import ChargePointError
from chargepoints.events import ChargerConnected, ChargerDisconnected, ConnectorStatusChanged, MeterSample
from gateway.bus import Bus
from gateway.cluster import Cluster
from gateway.influx import InfluxWriter, points_for_allocation, points_for_parks
from gateway.influx import point as influx_point
from gateway.topics import Topics
from smartgrid.ledger import GreenAccounting, green_share_now
from solar.events import GridMeterStateChanged
from solar.ingest import SolarIngest


class Outbound:
    def __init__(
        self,
        bus: Bus,
        topics: Topics,
        central: CentralSystem,
        *,
        instance_id: str,
        influx: InfluxWriter | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.bus = bus
        self.topics = topics
        self.central = central
        self.instance_id = instance_id
        self.influx = influx
        self.clock = clock
        self._meter_latest: dict[tuple[str, int], MeterSample] = {}

    def on_event(self, event: object) -> None:
        if isinstance(event, ChargerConnected | ChargerDisconnected | ConnectorStatusChanged):
            cp_id = event.charge_point_id
            state = self.central.state(cp_id)
            self.bus.publish(
                self.topics.charger_status(cp_id),
                {
                    "charge_point_id": cp_id,
                    "connected": self.central.is_connected(cp_id),
                    "instance": self.instance_id,
                    "ocpp_version": state.ocpp_version,
                    "connectors": {str(k): v for k, v in sorted(state.connectors.items())},
                    "ts": event.ts.isoformat(),
                },
                qos=1,
                retain=True,
            )
        elif isinstance(event, MeterSample):
            self._meter_latest[(event.charge_point_id, event.connector_id)] = event
        elif isinstance(event, GridMeterStateChanged):  # retained: whoever subscribes learns the site's source
            self.bus.publish(
                self.topics.site_meter_state(event.site_id),
                {
                    "site_id": event.site_id,
                    "state": event.state,
                    "fallback": event.fallback,
                    "ts": event.ts.isoformat(),
                },
                qos=1,
                retain=True,
            )

    def publish_meters(self) -> None:
        """The newest meter sample of each connector since the last call."""
        latest, self._meter_latest = self._meter_latest, {}
        for event in latest.values():
            self.bus.publish(
                self.topics.charger_meter(event.charge_point_id),
                {
                    "charge_point_id": event.charge_point_id,
                    "connector_id": event.connector_id,
                    "transaction_id": event.transaction_id,
                    "ts": event.ts.isoformat(),
                    "energy_wh": event.energy_wh,
                    "power_w": event.power_w,
                    "current_a": event.current_a,
                },
            )

    async def publish_allocation(self, site_id: str, allocation: dict[str, Any]) -> None:
        if self.influx is not None:
            self.influx.write(points_for_allocation(site_id, allocation))
        self.bus.publish(self.topics.site_allocation(site_id), allocation, qos=1, retain=True)

    def write_series(self, solar: SolarIngest, ledger: GreenAccounting) -> None:
        """Park and cooperative totals into InfluxDB: power now, and today's energy as the green accounting
        closed it (green_share_today, green_wh_today: the report's numbers)."""
        if self.influx is None:
            return
        now = self.clock()
        today = ledger.day(now.date())
        self.influx.write(points_for_parks(now, solar.parks_view(), today.green_wh))
        solar_w, ev_w = solar_power_w(solar), ledger.ev_power_w()
        fields: dict[str, Any] = {
            "solar_w": solar_w,
            "ev_w": ev_w,
            "green_w": ev_w * (green_share_now(solar_w, ev_w) or 0.0),  # power now: the parks' cover
            "solar_wh_today": today.solar_wh,
            "ev_wh_today": today.ev_wh,
            "green_wh_today": today.to_evs_wh,
        }
        if today.green_share is not None:
            fields["green_share_today"] = today.green_share
        self.influx.write([influx_point("cooperative", now, {}, fields)])


def solar_power_w(solar: SolarIngest) -> float:
    """The cooperative's live solar power (0 while it is not a number)."""
    power = solar.total_power_w()
    return power if math.isfinite(power) else 0.0


class ChargerLimits:
    def __init__(
        self, cluster: Cluster, on_sent: Callable[[str, int, float, int | None, str], None] | None = None
    ) -> None:
        self.cluster = cluster
        self.on_sent = on_sent  # each limit sent and the charger's answer (the charger page shows it)
        self._phases_in_use: dict[tuple[str, int], int] = {}  # chargers switched by the scheduler

    async def switch_phases(self, charge_point_id: str, connector_id: int, phases: int) -> None:
        """OCPP switches phases through the profile: the next limit carries numberPhases."""
        self._phases_in_use[(charge_point_id, connector_id)] = phases

    async def send_limit(
        self, charge_point_id: str, connector_id: int, limit_a: float, transaction_id: int | None
    ) -> None:
        phases = self._phases_in_use.get((charge_point_id, connector_id))
        status = await self.cluster.set_current_limit(charge_point_id, connector_id, limit_a, transaction_id, phases)
        if self.on_sent is not None:
            self.on_sent(charge_point_id, connector_id, limit_a, transaction_id, status)
        if status != "Accepted":
            raise ChargePointError(f"{charge_point_id} answered SetChargingProfile with {status}")


__all__ = ["ChargerLimits", "Outbound", "solar_power_w"]
