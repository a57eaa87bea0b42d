"""What every handler shares: the narrow view of the platform it may use, the app's keys, the error body.

Handlers receive `Api` (through `api(request)`), not the Platform: the parts they read and command, and
nothing that starts or wires them. The Platform builds one at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web

from gateway.auth import Principal

if TYPE_CHECKING:
    from chargepoints.central import CentralSystem
    from chargepoints.ports import TransactionRecord
    from gateway.bus import Bus
    from gateway.charger_live import ChargerLive
    from gateway.cluster import Cluster
    from gateway.dashboard import LiveHistories
    from gateway.files import Files
    from gateway.metrics import Metrics
    from gateway.settings import Settings
    from gateway.storage import Store
    from gateway.world import World
    from smartgrid.ledger import GreenAccounting
    from smartgrid.scheduler import Scheduler
    from solar.batteries import BatteryTelemetry
    from solar.ingest import SolarIngest
    from solar.meters import GridMeters


@dataclass(frozen=True, slots=True)
class Api:
    settings: Settings
    version: str
    clock: Callable[[], datetime]  # the platform's clock (simulated in the demo)
    scheduler_clock: Callable[[], float]  # the scheduler's time base, seconds
    store: Store
    central: CentralSystem
    cluster: Cluster
    solar: SolarIngest
    scheduler: Scheduler
    ledger: GreenAccounting
    history: LiveHistories
    metrics: Metrics
    bus: Bus
    supported_versions: tuple[str, ...]
    green_energy_wh: Callable[[TransactionRecord], float]
    energy_source: Callable[[TransactionRecord], str]
    managed: Callable[[str], bool]  # a charger under a site's scheduler (else "unmanaged")
    is_leader: Callable[[], bool]
    world: World
    charger_live: ChargerLive  # each connector's latest meter and last limit, for the charger page
    files: Files  # firmware images served, diagnostics and logs received
    meters: GridMeters | None = None  # the sites' grid connection meters
    batteries: BatteryTelemetry | None = None  # the stationary batteries' telemetry
    battery_setpoints: Mapping[str, float] | None = None  # battery -> the last setpoint sent, W (+ charging)
    battery_soc_sources: Mapping[str, list[tuple[float, str]]] | None = None  # the plans' state of charge origins
    grid_price: Callable[[str | None, datetime], float] | None = None  # (site, when) -> the grid's EUR/kWh
    # sessions' green energy by park (the accounting's while it follows them, else as stored): gateway.energy
    green_by_park_wh: Callable[[list[TransactionRecord], dict[int, dict[str, float]]], dict[str, float]] = (
        lambda records, stored: {}
    )


API: web.AppKey[Api] = web.AppKey("api")
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")


def api(request: web.Request) -> Api:
    return request.app[API]


def iso(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z") if ts else None


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
