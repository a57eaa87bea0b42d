"""Time series into InfluxDB (any server accepting `/api/v2/write`), with influxdb-client's async API.

The schema below is the contract with Grafana's dashboards (deploy/grafana):
the mapping functions only write what SCHEMA names, and a test checks every
dashboard query against it.

Writing never blocks the platform: points go into a bounded buffer (the oldest
are dropped, and counted, when it overflows); `run()` flushes by size or time
and retries a failed batch with exponential backoff without losing it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the client library (~40 MiB with what it loads) is imported when a point is first made
    from influxdb_client.client.write.point import Point

from chargepoints.events import (
    ChargerConnected,
    ChargerDisconnected,
    ConnectorStatusChanged,
    MeterSample,
    TransactionStarted,
    TransactionStopped,
)

log = logging.getLogger(__name__)

# measurement -> (tags, fields)
SCHEMA: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "charger_status": (("charge_point_id", "connector_id"), ("status", "connected", "fault")),
    "charger_meter": (("charge_point_id", "connector_id"), ("energy_wh", "power_w", "current_a")),
    "session": (("charge_point_id", "connector_id"), ("transaction_id", "started", "stopped", "energy_wh")),
    "inverter_power": (("park_id", "inverter_id"), ("power_w", "stale")),
    "park_power": (("park_id", "member_id"), ("power_w", "energy_today_wh", "to_evs_today_wh")),
    "cooperative": (
        (),
        ("solar_w", "ev_w", "green_w", "green_share_today", "solar_wh_today", "ev_wh_today", "green_wh_today"),
    ),
    "allocation": (("site_id", "charge_point_id", "connector_id"), ("limit_a", "green_w", "grid_w")),
}


def point(measurement: str, ts: datetime, tags: dict[str, Any], fields: dict[str, Any]) -> Point:
    """A point of SCHEMA's shape (unknown tags or fields are a programming error)."""
    tag_names, field_names = SCHEMA[measurement]
    if not (set(tags) <= set(tag_names) and set(fields) <= set(field_names)):
        raise ValueError(f"{measurement}: {sorted(tags)} / {sorted(fields)} are not in the schema")
    from influxdb_client.client.write.point import Point  # noqa: PLC0415
    from influxdb_client.domain.write_precision import WritePrecision  # noqa: PLC0415

    built = Point(measurement).time(ts, WritePrecision.MS)
    for name, value in tags.items():
        built = built.tag(name, str(value))
    for name, value in fields.items():
        if value is not None:
            built = built.field(name, value)
    return built


def points_for(event: object) -> list[Point]:
    """The points one domain event becomes (none for events not charted)."""
    if isinstance(event, ConnectorStatusChanged):
        fault = 0 if event.error_code in ("NoError", "") else 1
        tags = {"charge_point_id": event.charge_point_id, "connector_id": event.connector_id}
        return [point("charger_status", event.ts, tags, {"status": event.status, "fault": fault})]
    if isinstance(event, ChargerConnected | ChargerDisconnected):
        connected = 1 if isinstance(event, ChargerConnected) else 0
        return [
            point(
                "charger_status",
                event.ts,
                {"charge_point_id": event.charge_point_id, "connector_id": 0},
                {"connected": connected},
            )
        ]
    if isinstance(event, MeterSample):
        fields = {"energy_wh": event.energy_wh, "power_w": event.power_w, "current_a": event.current_a}
        if all(value is None for value in fields.values()):
            return []
        tags = {"charge_point_id": event.charge_point_id, "connector_id": event.connector_id}
        return [point("charger_meter", event.ts, tags, {k: float(v) for k, v in fields.items() if v is not None})]
    if isinstance(event, TransactionStarted):
        tags = {"charge_point_id": event.charge_point_id, "connector_id": event.connector_id}
        return [point("session", event.ts, tags, {"transaction_id": event.transaction_id, "started": 1})]
    if isinstance(event, TransactionStopped):
        tags = {"charge_point_id": event.charge_point_id, "connector_id": 0}
        return [point("session", event.ts, tags, {"transaction_id": event.transaction_id, "stopped": 1})]
    power = getattr(event, "power_w", None)
    park, inverter, ts = (
        getattr(event, "park_id", None),
        getattr(event, "inverter_id", None),
        getattr(event, "ts", None),
    )
    if power is not None and park is not None and inverter is not None and isinstance(ts, datetime):
        stale = 1 if getattr(event, "stale", False) else 0
        return [
            point(
                "inverter_power",
                ts,
                {"park_id": park, "inverter_id": inverter},
                {"power_w": float(power), "stale": stale},
            )
        ]
    return []


def points_for_allocation(site_id: str, allocation: dict[str, Any]) -> list[Point]:
    try:
        ts = datetime.fromisoformat(str(allocation["ts"]))
    except (KeyError, ValueError):
        return []
    points = []
    for setpoint in allocation.get("setpoints", []):
        tags = {
            "site_id": site_id,
            "charge_point_id": setpoint.get("charge_point_id", "?"),
            "connector_id": setpoint.get("connector_id", 0),
        }
        fields = {
            k: float(setpoint[k]) for k in ("limit_a", "green_w", "grid_w") if isinstance(setpoint.get(k), int | float)
        }
        if fields:
            points.append(point("allocation", ts, tags, fields))
    return points


def points_for_parks(
    ts: datetime, parks: Iterable[dict[str, Any]], to_evs_today_wh: dict[str, float] | None = None
) -> list[Point]:
    """Each park's power and energy today; with `to_evs_today_wh` (the green accounting's today), its
    energy into EVs today too."""
    points = []
    for park in parks:
        fields = {
            "power_w": float(park.get("power_w", 0.0)),
            "energy_today_wh": float(park.get("energy_today_wh", 0.0)),
        }
        if to_evs_today_wh is not None:
            fields["to_evs_today_wh"] = float(to_evs_today_wh.get(park["id"], 0.0))
        points.append(point("park_power", ts, {"park_id": park["id"], "member_id": park.get("member_id", "")}, fields))
    return points


class InfluxWriter:
    """Batches points to InfluxDB; `run()` belongs in the supervisor's TaskGroup."""

    def __init__(
        self,
        url: str,
        token: str,
        org: str,
        bucket: str,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 1.0,
        max_buffer: int = 50_000,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.url, self.token, self.org, self.bucket = url, token, org, bucket
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_backoff_s = max_backoff_s
        self._buffer: deque[str] = deque(maxlen=max_buffer)
        self._ready = asyncio.Event()
        self.written = 0
        self.dropped = 0
        self.failures = 0

    @property
    def queue_depth(self) -> int:
        return len(self._buffer)

    def write(self, points: Iterable[Point | str]) -> None:
        for item in points:
            if len(self._buffer) == self._buffer.maxlen:
                self.dropped += 1
            self._buffer.append(item if isinstance(item, str) else item.to_line_protocol())
        if len(self._buffer) >= self.batch_size:
            self._ready.set()

    def on_event(self, event: object) -> None:
        """Event-hub subscriber."""
        points = points_for(event)
        if points:
            self.write(points)

    async def run(self) -> None:
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync  # noqa: PLC0415
        from influxdb_client.domain.write_precision import WritePrecision  # noqa: PLC0415

        async with InfluxDBClientAsync(url=self.url, token=self.token, org=self.org, timeout=10_000) as client:
            api = client.write_api()
            backoff = 0.5
            while True:
                try:
                    async with asyncio.timeout(self.flush_interval_s):
                        await self._ready.wait()
                except TimeoutError:
                    pass
                self._ready.clear()
                while self._buffer:
                    batch = [self._buffer[i] for i in range(min(self.batch_size, len(self._buffer)))]
                    try:
                        await api.write(
                            bucket=self.bucket,
                            org=self.org,
                            record=batch,
                            write_precision=WritePrecision.MS,  # type: ignore[arg-type] # a str constant in its stubs
                        )
                    except Exception as exc:  # the server or the network: keep the batch, retry later
                        self.failures += 1
                        log.warning(
                            "influx: write of %d points failed (%s); retrying in %.1fs", len(batch), exc, backoff
                        )
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, self.max_backoff_s)
                        break
                    backoff = 0.5
                    for _ in batch:
                        if self._buffer:
                            self._buffer.popleft()
                    self.written += len(batch)
