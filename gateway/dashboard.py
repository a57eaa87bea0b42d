"""The live web dashboard: a static single page, a live snapshot, history and an SSE stream.

The page (gateway/static) needs no build step. It reads /api/live once, then
follows /api/stream (server-sent events: one snapshot a second) and draws the
day's solar and EV curves from /api/history (those routes: gateway.api.live).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from chargepoints.central import CentralSystem
    from gateway.settings import Settings
    from smartgrid.ledger import GreenAccounting
    from solar.ingest import SolarIngest

STATIC = Path(__file__).with_name("static")
HISTORY_STEP_S = 10.0
HISTORY_POINTS = 24 * 3600 // int(HISTORY_STEP_S)


@dataclass(slots=True)
class LiveHistory:
    """Samples of solar and EV power every HISTORY_STEP_S for the last day (power only: energy and green
    energy come from the green accounting, smartgrid.ledger)."""

    points: deque[tuple[str, float, float]] = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))
    _since_sample: float = 0.0

    def tick(self, now: datetime, solar_w: float, ev_w: float, seconds: float) -> None:
        self._since_sample += seconds
        if self._since_sample >= HISTORY_STEP_S or not self.points:
            self._since_sample = 0.0
            self.points.append((now.isoformat(), round(solar_w, 1), round(ev_w, 1)))


def scope_key(everything: bool, cooperative_id: str | None) -> str:
    """Whose history: "*" everything (operators), a cooperative's id, or "" (viewers: no one's energy)."""
    return "*" if everything else (cooperative_id or "")


@dataclass(slots=True)
class LiveHistories:
    """A LiveHistory for everything ("*") and one per cooperative, each of its own parks and chargers."""

    by_scope: dict[str, LiveHistory] = field(default_factory=dict)

    def of(self, key: str) -> LiveHistory:
        history = self.by_scope.get(key)
        if history is None:
            history = self.by_scope[key] = LiveHistory()
        return history

    def tick(self, now: datetime, power: dict[str, tuple[float, float]], seconds: float) -> None:
        """`power`: (solar_w, ev_w) per scope key."""
        for key, (solar_w, ev_w) in power.items():
            self.of(key).tick(now, solar_w, ev_w, seconds)


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


def add_routes(app: web.Application) -> None:
    """The page and its files (no token: the page asks for one and sends it to /api)."""
    app.router.add_get("/", index, name="dashboard")
    app.router.add_static("/static/", STATIC, name="static")


def power_by_cooperative(
    settings: Settings,
    site_cooperatives: Mapping[str, str | None],
    solar: SolarIngest,
    central: CentralSystem,
    ledger: GreenAccounting,
) -> dict[str, tuple[float, float]]:
    """(solar_w, ev_w) of each cooperative now: its members' parks, the chargers at the sites it runs."""
    sites_of: dict[str, set[str]] = {}
    for site_id, cooperative_id in site_cooperatives.items():
        if cooperative_id is not None:
            sites_of.setdefault(cooperative_id, set()).add(site_id)
    power = {}
    for coop in settings.cooperatives:
        members = {m.id for m in coop.members}
        solar_w = sum(solar.park_power_w(p.id) for p in settings.parks if p.member_id in members)
        sites = sites_of.get(coop.id, set())
        chargers = {s.id for s in central.states() if s.site_id in sites}
        power[coop.id] = (solar_w if math.isfinite(solar_w) else 0.0, ledger.ev_power_w(chargers))
    return power
