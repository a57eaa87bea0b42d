"""The live overview the dashboard reads: a snapshot, the day's history, and a server-sent event stream."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime
from typing import Any

from aiohttp import web

from gateway.api.access import Tenancy, tenancy
from gateway.api.chargers import charger_view
from gateway.api.context import Api, api
from gateway.api.table import ALL_ROLES, Route, Scope
from gateway.dashboard import scope_key
from smartgrid.ledger import DayTotals, GreenAccounting, green_share_now


def snapshot(context: Api, seen: Tenancy) -> dict[str, Any]:
    """Everything the overview shows of what `seen` owns, JSON-able: its chargers, parks and sites, their
    power and today's energy (a viewer: charger status only)."""
    parks = [view for view in context.solar.parks_view() if seen.park(view["id"])]
    states = [state for state in context.central.states() if seen.charger(state.site_id)]
    owned = {state.id for state in states if seen.owned_charger(state.site_id)}
    solar_w = sum(view["power_w"] for view in parks)
    ev_w = context.ledger.ev_power_w(None if seen.everything else owned)
    by_status: Counter[str] = Counter()
    for state in states:
        if not context.central.is_connected(state.id):
            by_status["Offline"] += 1
        else:
            for status in state.connectors.values() or ["Unknown"]:
                by_status[status] += 1
    now = context.clock()
    share_now = green_share_now(solar_w, ev_w)
    return {
        "ts": now.isoformat(),
        "solar_w": round(solar_w, 1),
        "ev_w": round(ev_w, 1),
        "green_share_now": round(share_now, 4) if share_now is not None else None,
        "today": today_view(today_of(context.ledger, now, seen)),
        "chargers_by_status": dict(sorted(by_status.items())),
        "chargers": [charger_view(context, state.id) for state in states],
        "parks": parks,
        "allocations": {
            site_id: context.world.allocation(site_id, context.is_leader())
            for site_id in context.world.sites
            if seen.site(site_id)
        },
    }


def today_of(ledger: GreenAccounting, now: datetime, seen: Tenancy) -> DayTotals:
    """The platform's today as the green accounting closed it: everything (operators), a cooperative's
    own pool, nothing for a viewer. The same minutes the report for today sums."""
    if seen.everything:
        return ledger.day(now.date())
    if seen.cooperative_id is None:
        return DayTotals()
    return ledger.day(now.date(), [seen.cooperative_id])


def today_view(today: DayTotals) -> dict[str, Any]:
    share = today.green_share
    return {
        "solar_wh": round(today.solar_wh, 1),
        "ev_wh": round(today.ev_wh, 1),
        "green_wh": round(today.to_evs_wh, 1),
        "green_share": round(share, 4) if share is not None else None,
    }


async def live(request: web.Request) -> web.Response:
    return web.json_response(snapshot(api(request), tenancy(request)))


async def history(request: web.Request) -> web.Response:
    seen = tenancy(request)
    points = api(request).history.of(scope_key(seen.everything, seen.cooperative_id)).points
    return web.json_response([{"ts": ts, "solar_w": s, "ev_w": e} for ts, s, e in points])


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: a `snapshot` event every second until the client leaves."""
    context, seen = api(request), tenancy(request)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    try:
        while True:
            data = json.dumps(snapshot(context, seen), separators=(",", ":"))
            await response.write(f"event: snapshot\ndata: {data}\n\n".encode())
            await asyncio.sleep(1.0)
    except (ConnectionResetError, ConnectionError):
        pass
    return response


ROUTES: tuple[Route, ...] = (
    Route(
        "get",
        "/api/live",
        "live",
        live,
        "Live overview: solar, EVs, green share, chargers, parks, allocations",
        roles=ALL_ROLES,
        scope=Scope.LIVE,
        free_response=True,
        tag="dashboard",
    ),
    Route(
        "get",
        "/api/history",
        "history",
        history,
        "Solar and EV power over the last day (10 s samples)",
        roles=ALL_ROLES,
        scope=Scope.LIVE,
        many=True,
        free_response=True,
        tag="dashboard",
    ),
    Route(
        "get",
        "/api/stream",
        "stream",
        stream,
        "The live overview as server-sent events, one `snapshot` a second (EventSource: ?access_token=)",
        roles=ALL_ROLES,
        scope=Scope.LIVE,
        stream=True,
        tag="dashboard",
    ),
)
