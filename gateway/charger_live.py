"""What each charger does now, for its page: the latest meter of each connector and the last limit sent.

Fed by the EventHub (MeterSample) and by every limit that goes out (the scheduler's, through
`publishing.ChargerLimits`, and an operator's `POST .../limit`), on the instance that sends it. In memory:
the page shows the present; the history is in SQL (sessions, events) and InfluxDB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chargepoints.events import MeterSample


@dataclass(slots=True)
class ConnectorNow:
    power_w: float | None = None
    current_a: float | None = None
    energy_wh: float | None = None
    metered: datetime | None = None  # when the charger measured the latest of these
    limit_a: float | None = None  # the last limit sent, as a charging profile
    profile: str | None = None  # TxProfile (on the running transaction) or TxDefaultProfile
    profile_status: str | None = None  # the charger's answer to SetChargingProfile
    profile_sent: datetime | None = None


class ChargerLive:
    # the events on_event handles: the event hub hands it no other
    event_types: tuple[type, ...] = (MeterSample,)

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock  # the platform's
        self._connectors: dict[tuple[str, int], ConnectorNow] = {}

    def _now_of(self, charge_point_id: str, connector_id: int) -> ConnectorNow:
        return self._connectors.setdefault((charge_point_id, connector_id), ConnectorNow())

    def on_event(self, event: object) -> None:
        if isinstance(event, MeterSample):
            now = self._now_of(event.charge_point_id, event.connector_id)
            if now.metered is not None and event.ts < now.metered:
                return  # a replayed backlog: older than what is shown
            now.metered = event.ts
            if event.power_w is not None:
                now.power_w = event.power_w
            if event.current_a is not None:
                now.current_a = event.current_a
            if event.energy_wh is not None:
                now.energy_wh = event.energy_wh

    def limit_sent(
        self, charge_point_id: str, connector_id: int, limit_a: float, transaction_id: int | None, status: str
    ) -> None:
        now = self._now_of(charge_point_id, connector_id)
        now.limit_a = limit_a
        now.profile = "TxProfile" if transaction_id is not None else "TxDefaultProfile"
        now.profile_status = status
        now.profile_sent = self.clock()

    def connector(self, charge_point_id: str, connector_id: int) -> ConnectorNow | None:
        return self._connectors.get((charge_point_id, connector_id))


__all__ = ["ChargerLive", "ConnectorNow"]
