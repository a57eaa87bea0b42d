"""Sites: the grid connections the scheduler keeps its chargers under, and their current allocation.

Sites live in SQL (seeded from the configuration at start, which wins for the sites it names); any
instance may create, change or delete one, and every instance's scheduler follows (gateway.world).
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from gateway.api.access import tenancy
from gateway.api.context import api, error, iso
from gateway.api.params import read_body, unprocessable
from gateway.api.table import COOPERATIVE, Route, Scope
from gateway.api_models import (
    PlanBatteryView,
    PlanSessionView,
    PlanSlotView,
    PlanView,
    SiteCreate,
    SiteUpdate,
    SiteView,
)
from gateway.planning_feeds import soc_source


def _known(request: web.Request, site_id: str) -> bool:
    return site_id in api(request).world.sites and tenancy(request).site(site_id)


def _check_cooperative(request: web.Request, cooperative_id: str | None) -> None:
    known = {c.id for c in api(request).settings.cooperatives}
    if cooperative_id is not None and cooperative_id not in known:
        raise unprocessable("UnknownCooperative", f"cooperative_id: no cooperative {cooperative_id!r}")


async def get_allocation(request: web.Request) -> web.Response:
    context = api(request)
    site_id = request.match_info["site_id"]
    if not _known(request, site_id):
        return error(404, "NotFound", f"no site {site_id!r}")
    allocation = context.world.allocation(site_id, context.is_leader()) or {"site_id": site_id, "setpoints": []}
    meter = context.meters.view(site_id) if context.meters is not None else None
    if meter is not None:  # this instance's own view of the site's grid meter: state, fallback, newest currents
        allocation = {**allocation, "meter": meter}
    return web.json_response(allocation)


async def get_plan(request: web.Request) -> web.Response:
    """The leader's current plan for the site (read-only): per slot, per session, per battery."""
    context = api(request)
    site_id = request.match_info["site_id"]
    if not _known(request, site_id):
        return error(404, "NotFound", f"no site {site_id!r}")
    current = context.scheduler.plan if context.is_leader() else None
    site_plan = current[0].sites.get(site_id) if current is not None else None
    if current is None or site_plan is None:
        return web.json_response(PlanView(site_id=site_id, planned=False).model_dump())
    plan, start_s = current
    start = context.clock() + timedelta(seconds=start_s - context.scheduler_clock())
    step = timedelta(seconds=plan.slot_s)
    keys = {f"{cp}/{c}": (cp, c) for cp, c in context.scheduler.session_keys()}
    view = PlanView(
        site_id=site_id,
        planned=True,
        start=iso(start),
        slot_s=plan.slot_s,
        quantile=context.settings.planner.quantile,
        cost_eur=round(site_plan.cost_eur, 4),
        slots=[
            PlanSlotView(
                start=iso(start + step * k) or "",
                import_wh=round(site_plan.import_wh[k], 1),
                export_wh=round(site_plan.export_wh[k], 1),
                green_ev_wh=round(site_plan.green_ev_wh[k], 1),
                max_phase_a=round(site_plan.max_phase_a[k], 2),
                import_eur_per_kwh=_at(site_plan.import_eur_per_kwh, k),
                export_eur_per_kwh=_at(site_plan.export_eur_per_kwh, k),
            )
            for k in range(len(site_plan.import_wh))
        ],
        sessions=[
            PlanSessionView(
                charge_point_id=keys[key][0],
                connector_id=keys[key][1],
                energy_wh=[round(v, 1) for v in p.energy_wh],
                grid_wh=[round(v, 1) for v in p.grid_wh],
                shortfall_wh=round(p.shortfall_wh, 1),
            )
            for key, p in plan.sessions.items()
            if key in keys and context.scheduler.session_site(key) == site_id
        ],
        batteries=[
            PlanBatteryView(
                id=bid,
                charge_wh=[round(v, 1) for v in b.charge_wh],
                discharge_wh=[round(v, 1) for v in b.discharge_wh],
                soc=[round(v, 4) for v in b.soc],
                soc_source=soc_source((context.battery_soc_sources or {}).get(bid, []), b.soc[0]),
                setpoint_w=(context.battery_setpoints or {}).get(bid),
                telemetry=context.batteries.view(bid) if context.batteries is not None else None,
            )
            for bid, b in plan.batteries.items()
            if any(c.id == bid and c.site_id == site_id for c in context.settings.batteries)
        ],
    )
    return web.json_response(view.model_dump())


def _at(values: tuple[float, ...], k: int) -> float | None:
    return round(values[k], 5) if k < len(values) else None


async def list_sites(request: web.Request) -> web.Response:
    context = api(request)
    seen = tenancy(request)
    return web.json_response([s for s in await context.store.list_sites() if seen.site(s["id"])])


async def get_site(request: web.Request) -> web.Response:
    site_id = request.match_info["site_id"]
    site = await api(request).store.get_site(site_id)
    if site is None or not tenancy(request).site(site_id):
        return error(404, "NotFound", f"no site {site_id!r}")
    return web.json_response(site)


async def create_site(request: web.Request) -> web.Response:
    context = api(request)
    body = await read_body(request, SiteCreate)
    _check_cooperative(request, body.cooperative_id)
    if await context.store.get_site(body.id) is not None:
        return error(409, "Exists", f"site {body.id!r} exists")
    defaults = {"name": "", "base_load_a": 0.0, "voltage_v": 230.0}
    await context.store.put_site({**defaults, **body.model_dump(exclude_none=True)})
    await context.world.reload()
    context.world.announce()
    return web.json_response(await context.store.get_site(body.id), status=201)


async def update_site(request: web.Request) -> web.Response:
    context = api(request)
    site_id = request.match_info["site_id"]
    body = await read_body(request, SiteUpdate)
    _check_cooperative(request, body.cooperative_id)
    if await context.store.get_site(site_id) is None:
        return error(404, "NotFound", f"no site {site_id!r}")
    await context.store.put_site({"id": site_id, **body.model_dump(exclude_unset=True, exclude_none=True)})
    await context.world.reload()
    context.world.announce()
    return web.json_response(await context.store.get_site(site_id))


async def delete_site(request: web.Request) -> web.Response:
    """Its chargers stay registered, at no site: not scheduled until PATCHed to another."""
    context = api(request)
    site_id = request.match_info["site_id"]
    if not await context.store.delete_site(site_id):
        return error(404, "NotFound", f"no site {site_id!r}")
    for state in context.central.states():
        if state.site_id == site_id:
            state.site_id = None
    await context.world.reload()
    context.world.announce()
    return web.Response(status=204)


ROUTES: tuple[Route, ...] = (
    Route(
        "get",
        "/api/sites",
        "sites",
        list_sites,
        "Sites: grid limit per phase, base load, voltage, cooperative",
        roles=COOPERATIVE,
        scope=Scope.SITE,
        response=SiteView,
        many=True,
        tag="smartgrid",
    ),
    Route(
        "post",
        "/api/sites",
        "site-create",
        create_site,
        "Create a site",
        body=SiteCreate,
        response=SiteView,
        status=201,
        errors=(409, 422),
        tag="smartgrid",
    ),
    Route(
        "get",
        "/api/sites/{site_id}",
        "site",
        get_site,
        "One site",
        roles=COOPERATIVE,
        scope=Scope.SITE,
        response=SiteView,
        errors=(404,),
        tag="smartgrid",
    ),
    Route(
        "patch",
        "/api/sites/{site_id}",
        "site-update",
        update_site,
        "Change a site's grid limit, base load, voltage, name or cooperative",
        body=SiteUpdate,
        response=SiteView,
        errors=(404, 422),
        tag="smartgrid",
    ),
    Route(
        "delete",
        "/api/sites/{site_id}",
        "site-delete",
        delete_site,
        "Delete a site (its chargers stay registered, at no site)",
        status=204,
        errors=(404,),
        tag="smartgrid",
    ),
    Route(
        "get",
        "/api/sites/{site_id}/allocation",
        "allocation",
        get_allocation,
        "The scheduler's current setpoints for a site (answered by every instance), where its limit came from "
        "(`grid.source`: `meter` or `static`) and, for a metered site, its meter (`meter.state`, `meter.fallback`)",
        roles=COOPERATIVE,
        scope=Scope.SITE,
        free_response=True,
        errors=(404,),
        tag="smartgrid",
    ),
    Route(
        "get",
        "/api/sites/{site_id}/plan",
        "plan",
        get_plan,
        "The planner's current plan for a site: grid, green and phase current per slot, each session's energy"
        " and grid budget per slot, each battery's charge, discharge and state of charge (on the leader)",
        roles=COOPERATIVE,
        scope=Scope.SITE,
        response=PlanView,
        errors=(404,),
        tag="smartgrid",
    ),
)
