"""The live web dashboard: a static single page, a live snapshot, history and an SSE stream.

The page (gateway/static) needs no build step. It reads /api/live once, then
follows /api/stream (server-sent events: one snapshot a second) and draws the
day's solar and EV curves from /api/history.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from gateway.platform import Platform

STATIC = Path(__file__).with_name("static")
HISTORY_STEP_S = 10.0
HISTORY_POINTS = 24 * 3600 // int(HISTORY_STEP_S)


@dataclass(slots=True)
class EnergyToday:
    """Energy integrated from live power, reset at UTC midnight."""

    day: str = ""
    solar_wh: float = 0.0
    ev_wh: float = 0.0
    green_wh: float = 0.0

    def add(self, now: datetime, solar_w: float, ev_w: float, seconds: float) -> None:
        day = now.date().isoformat()
        if day != self.day:
            self.day, self.solar_wh, self.ev_wh, self.green_wh = day, 0.0, 0.0, 0.0
        hours = seconds / 3600.0
        self.solar_wh += solar_w * hours
        self.ev_wh += ev_w * hours
        self.green_wh += min(solar_w, ev_w) * hours

    @property
    def green_share(self) -> float | None:
        return self.green_wh / self.ev_wh if self.ev_wh > 0 else None


@dataclass(slots=True)
class LiveHistory:
    """Samples of solar and EV power every HISTORY_STEP_S for the last day, and today's energy."""

    points: deque[tuple[str, float, float]] = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))
    today: EnergyToday = field(default_factory=EnergyToday)
    _since_sample: float = 0.0

    def tick(self, now: datetime, solar_w: float, ev_w: float, seconds: float) -> None:
        self.today.add(now, solar_w, ev_w, seconds)
        self._since_sample += seconds
        if self._since_sample >= HISTORY_STEP_S or not self.points:
            self._since_sample = 0.0
            self.points.append((now.isoformat(), round(solar_w, 1), round(ev_w, 1)))


def snapshot(platform: Platform) -> dict[str, Any]:
    """Everything the overview shows, JSON-able."""
    from gateway.http import charger_view

    solar_w = platform.solar_power_w()
    ev_w = platform.ledger.ev_power_w()
    states = platform.central.states()
    by_status: Counter[str] = Counter()
    for state in states:
        if not platform.central.is_connected(state.id):
            by_status["Offline"] += 1
        else:
            for status in state.connectors.values() or ["Unknown"]:
                by_status[status] += 1
    today = platform.history.today
    return {
        "ts": platform.clock().isoformat(),
        "solar_w": round(solar_w, 1),
        "ev_w": round(ev_w, 1),
        "green_share_now": round(min(solar_w, ev_w) / ev_w, 4) if ev_w > 0 else None,
        "today": {
            "solar_wh": round(today.solar_wh, 1),
            "ev_wh": round(today.ev_wh, 1),
            "green_wh": round(today.green_wh, 1),
            "green_share": round(today.green_share, 4) if today.green_share is not None else None,
        },
        "chargers_by_status": dict(sorted(by_status.items())),
        "chargers": [charger_view(platform, s.id) for s in states],
        "parks": platform.solar.parks_view(),
        "allocations": {site.id: platform.scheduler.allocation(site.id) for site in platform.settings.sites},
    }


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def live(request: web.Request) -> web.Response:
    from gateway.http import PLATFORM

    return web.json_response(snapshot(request.app[PLATFORM]))


async def history(request: web.Request) -> web.Response:
    from gateway.http import PLATFORM

    points = request.app[PLATFORM].history.points
    return web.json_response([{"ts": ts, "solar_w": s, "ev_w": e} for ts, s, e in points])


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: a `snapshot` event every second until the client leaves."""
    from gateway.http import PLATFORM

    platform = request.app[PLATFORM]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    try:
        while True:
            data = json.dumps(snapshot(platform), separators=(",", ":"))
            await response.write(f"event: snapshot\ndata: {data}\n\n".encode())
            await asyncio.sleep(1.0)
    except (ConnectionResetError, ConnectionError):
        pass
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index, name="dashboard")
    app.router.add_static("/static/", STATIC, name="static")
    app.router.add_get("/api/live", live, name="live")
    app.router.add_get("/api/history", history, name="history")
    app.router.add_get("/api/stream", stream, name="stream")
