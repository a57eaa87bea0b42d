"""Solar parks, cooperatives and their reports, park energy over time, refused telemetry."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from gateway.api.access import tenancy
from gateway.api.context import Api, api, error, iso
from gateway.api.params import (
    PERIOD_QUERY,
    invalid_query,
    period,
)
from gateway.api.table import COOPERATIVE, Route, Scope
from gateway.api_models import (
    CooperativeReport,
    CooperativeView,
    ParkEnergy,
    SolarRejects,
)
from gateway.pools import only_cooperative, site_pools
from gateway.settings import CooperativeConfig as Cooperative
from gateway.settings import Settings
from gateway.storage import Store
from solar.accounting import BUCKETS


def _visible_parks(request: web.Request) -> list[dict[str, Any]]:
    return tenancy(request).parks_of(api(request).solar.parks_view())


async def list_parks(request: web.Request) -> web.Response:
    return web.json_response(_visible_parks(request))


async def get_park(request: web.Request) -> web.Response:
    park_id = request.match_info["park_id"]
    for park in _visible_parks(request):
        if park["id"] == park_id:
            return web.json_response(park)
    return error(404, "NotFound", f"no park {park_id!r}")


def _kwh(wh: float) -> float:
    return round(wh / 1000.0, 3)


async def list_cooperatives(request: web.Request) -> web.Response:
    """The cooperatives (a cooperative token: its own), with members and their parks."""
    context, seen = api(request), tenancy(request)
    parks_of: dict[str, list[str]] = {}
    for park in context.settings.parks:
        parks_of.setdefault(park.member_id or "", []).append(park.id)
    return web.json_response(
        [
            {
                "id": coop.id,
                "name": coop.name,
                "members": [
                    {"id": m.id, "name": m.name, "parks": sorted(parks_of.get(m.id, []))} for m in coop.members
                ],
            }
            for coop in context.settings.cooperatives
            if seen.cooperative(coop.id)
        ]
    )


async def cooperative_period(
    settings: Settings, store: Store, coop: Cooperative, start: datetime, end: datetime
) -> dict[str, Any]:
    """A cooperative's period per member and park: generated, into EVs, exported, as the green accounting
    stored it (the report; the demo prints it too)."""
    parks_of: dict[str, list[str]] = {m.id: [] for m in coop.members}
    for park in settings.parks:
        if park.member_id in parks_of:
            parks_of[park.member_id].append(park.id)
    energy = await store.energy.by_park([p for ps in parks_of.values() for p in ps], start, end)
    members: list[dict[str, Any]] = []
    for member in coop.members:
        parks: list[dict[str, Any]] = [
            {
                "id": park_id,
                "generated_kwh": _kwh(energy[park_id][0]),
                "to_evs_kwh": _kwh(energy[park_id][1]),
                "exported_kwh": _kwh(max(0.0, energy[park_id][0] - energy[park_id][1])),
            }
            for park_id in sorted(parks_of[member.id])
        ]
        members.append(
            {
                "id": member.id,
                "name": member.name,
                "generated_kwh": round(sum(p["generated_kwh"] for p in parks), 3),
                "to_evs_kwh": round(sum(p["to_evs_kwh"] for p in parks), 3),
                "exported_kwh": round(sum(p["exported_kwh"] for p in parks), 3),
                "parks": parks,
            }
        )
    return {
        "cooperative_id": coop.id,
        "name": coop.name,
        "from": iso(start),
        "to": iso(end),
        "generated_kwh": round(sum(m["generated_kwh"] for m in members), 3),
        "to_evs_kwh": round(sum(m["to_evs_kwh"] for m in members), 3),
        "exported_kwh": round(sum(m["exported_kwh"] for m in members), 3),
        "members": members,
    }


SESSIONS_BEFORE = timedelta(days=2)  # a session that started this long before the period may still charge in it


async def ev_grid_cost(context: Api, cooperative_id: str, start: datetime, end: datetime) -> dict[str, Any]:
    """The grid (not green) energy the cooperative's EVs took in the period, and what it cost at the planner's
    grid price of each 15-minute slot (null without planner prices)."""
    coops = {**site_pools(context.settings), **{k: v or only_cooperative(context.settings)
                                                for k, v in context.world.site_cooperatives().items()}}  # fmt: skip
    chargers = [s.id for s in context.central.states() if s.site_id and coops.get(s.site_id) == cooperative_id]
    records = (
        await context.store.list_transactions(
            charge_point_ids=chargers, started_from=start - SESSIONS_BEFORE, started_to=end, limit=100_000
        )
        if chargers
        else []
    )
    stored = await context.store.accounts.session_slots([r.id for r in records if not r.active]) if records else {}
    site_of = {s.id: s.site_id for s in context.central.states()}
    grid_kwh, cost = 0.0, 0.0
    for record in records:
        slots = context.ledger.session_slots(record.id) or stored.get(record.id) or []
        for slot, wh, green in slots:
            if start <= slot < end:
                kwh = max(0.0, wh - green) / 1000.0
                grid_kwh += kwh
                if context.grid_price is not None:
                    cost += kwh * context.grid_price(site_of.get(record.charge_point_id), slot)
    return {
        "ev_grid_kwh": round(grid_kwh, 3),
        "ev_grid_cost_eur": round(cost, 4) if context.grid_price is not None else None,
    }


async def cooperative_report(request: web.Request) -> web.StreamResponse:
    """Per member and park: generated, routed into EVs (the green ledger), exported; from SQL intervals."""
    context = api(request)
    coop_id = request.match_info["cooperative_id"]
    coop = next((c for c in context.settings.cooperatives if c.id == coop_id), None)
    if coop is None or not tenancy(request).cooperative(coop_id):
        return error(404, "NotFound", f"no cooperative {coop_id!r}")
    start, end = period(request)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise invalid_query("format must be json or csv")
    report = await cooperative_period(context.settings, context.store, coop, start, end)
    members = report["members"]
    if fmt == "json":
        return web.json_response({**report, "grid": await ev_grid_cost(context, coop.id, start, end)})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["member_id", "member_name", "park_id", "generated_kwh", "to_evs_kwh", "exported_kwh"])
    for row in members:
        for park in row["parks"]:
            writer.writerow(
                [row["id"], row["name"] or "", park["id"], park["generated_kwh"], park["to_evs_kwh"],
                 park["exported_kwh"]]
            )  # fmt: skip
    writer.writerow(["", "total", "", report["generated_kwh"], report["to_evs_kwh"], report["exported_kwh"]])
    filename = f"coopgrid-{coop.id}-{start:%Y%m%d}-{end:%Y%m%d}.csv"
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def park_energy(request: web.Request) -> web.Response:
    """A park's generation and green energy into EVs over time, in minutes, 15 minutes, hours, days or months."""
    park_id = request.match_info["park_id"]
    if not any(p["id"] == park_id for p in _visible_parks(request)):
        return error(404, "NotFound", f"no park {park_id!r}")
    start, end = period(request)
    bucket = request.query.get("bucket", "hour")
    if bucket not in (*BUCKETS, "month"):
        raise invalid_query(f"bucket must be one of {', '.join([*BUCKETS, 'month'])}")
    if bucket == "minute" and end - start > timedelta(days=7):
        raise invalid_query("minutes are served for at most 7 days; choose a larger bucket")
    rows = await api(request).store.energy.park_series(park_id, start, end, bucket)  # grouped in SQL
    series = [
        {"start": iso(at), "generated_wh": round(generated, 3), "to_evs_wh": round(green, 3)}
        for at, generated, green in rows
    ]
    return web.json_response(
        {"park_id": park_id, "bucket": bucket, "from": iso(start), "to": iso(end), "series": series}
    )


async def inverter_energy(request: web.Request) -> web.Response:
    """Each inverter's generation over time (minutes, 15 minutes or hours), for the park's curves."""
    park_id = request.match_info["park_id"]
    if not any(p["id"] == park_id for p in _visible_parks(request)):
        return error(404, "NotFound", f"no park {park_id!r}")
    start, end = period(request)
    bucket = request.query.get("bucket", "15min")
    if bucket not in ("minute", "15min", "hour"):
        raise invalid_query("bucket must be one of minute, 15min, hour")
    if end - start > timedelta(days=7):
        raise invalid_query("inverter series are served for at most 7 days")
    rows = await api(request).store.energy.inverter_series(park_id, start, end, bucket)
    inverters = {
        inverter: [{"start": iso(at), "generated_wh": round(wh, 3)} for at, wh in points]
        for inverter, points in rows.items()
    }
    return web.json_response(
        {"park_id": park_id, "bucket": bucket, "from": iso(start), "to": iso(end), "inverters": inverters}
    )


async def solar_rejects(request: web.Request) -> web.Response:
    """Telemetry refused by the ingest: counts per reason and the latest payloads, kept aside as received.
    A cooperative token: only what was sent to its own parks' topics (and no installation-wide totals)."""
    solar, seen = api(request).solar, tenancy(request)
    if seen.everything:
        counts: dict[str, int] = dict(solar.rejects)
    else:
        counts = {}
        for park_id, per_reason in solar.rejects_by_park.items():
            if seen.park(park_id):
                for reason, count in per_reason.items():
                    counts[reason] = counts.get(reason, 0) + count
    return web.json_response(
        {
            "accepted": solar.accepted if seen.everything else None,
            "parsed": solar.parsed if seen.everything else None,
            "counts": dict(sorted(counts.items())),
            "recent": [item for item in solar.rejected_view() if seen.park(item["park_id"])],
        }
    )


ROUTES: tuple[Route, ...] = (
    Route(
        "get",
        "/api/parks",
        "parks",
        list_parks,
        "Solar parks with live power",
        roles=COOPERATIVE,
        scope=Scope.PARK,
        many=True,
        free_response=True,
        tag="solar",
    ),
    Route(
        "get",
        "/api/parks/{park_id}",
        "park",
        get_park,
        "One solar park",
        roles=COOPERATIVE,
        scope=Scope.PARK,
        free_response=True,
        errors=(404,),
        tag="solar",
    ),
    Route(
        "get",
        "/api/parks/{park_id}/energy",
        "park-energy",
        park_energy,
        "A park's generation and green energy into EVs, from the SQL intervals",
        roles=COOPERATIVE,
        scope=Scope.PARK,
        response=ParkEnergy,
        errors=(404, 422),
        query=(*PERIOD_QUERY, ("bucket", "bucket", "minute, 15min, hour (default), day or month")),
        tag="solar",
    ),
    Route(
        "get",
        "/api/parks/{park_id}/inverters/energy",
        "park-inverter-energy",
        inverter_energy,
        "Each inverter's generation of a park, from the SQL minutes (at most 7 days)",
        roles=COOPERATIVE,
        scope=Scope.PARK,
        free_response=True,
        errors=(404, 422),
        query=(*PERIOD_QUERY, ("bucket", "bucket", "minute, 15min (default) or hour")),
        tag="solar",
    ),
    Route(
        "get",
        "/api/cooperatives",
        "cooperatives",
        list_cooperatives,
        "Cooperatives with their members and parks",
        roles=COOPERATIVE,
        scope=Scope.COOPERATIVE,
        response=CooperativeView,
        many=True,
        tag="solar",
    ),
    Route(
        "get",
        "/api/cooperatives/{cooperative_id}/report",
        "cooperative-report",
        cooperative_report,
        "Per member and park: generated, routed into EVs, exported (JSON or CSV)",
        roles=COOPERATIVE,
        scope=Scope.COOPERATIVE,
        response=CooperativeReport,
        errors=(404, 422),
        query=(*PERIOD_QUERY, ("format", "format", "json (default) or csv")),
        tag="solar",
        csv=True,
    ),
    Route(
        "get",
        "/api/solar/rejects",
        "solar-rejects",
        solar_rejects,
        "Refused telemetry: counts per reason and the latest payloads as received",
        roles=COOPERATIVE,
        scope=Scope.PARK,
        response=SolarRejects,
        tag="solar",
    ),
)
