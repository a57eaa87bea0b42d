"""Charging sessions (transactions) and how the scheduler treats a running one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from chargepoints.ports import TransactionRecord
from chargepoints.transaction_status import transaction_state
from gateway.api.access import tenancy
from gateway.api.chargers import commanding
from gateway.api.context import Api, api, error, iso
from gateway.api.params import (
    bool_query,
    page,
    paged,
    read_body,
    time_query,
)
from gateway.api.table import COOPERATIVE, Route, Scope
from gateway.api_models import (
    SessionView,
)
from gateway.pricing import Pricing, metered_energy_wh


def session_view(
    context: Api,
    record: TransactionRecord,
    pricing: Pricing | None = None,
    station_cost: dict[str, Any] | None = None,
) -> dict[str, Any]:
    newer = context.central.unflushed_register(record.id) if record.active else None
    if newer is not None:
        record = replace(record, meter_last_wh=newer)
    green = context.green_energy_wh(record)
    source = context.energy_source(record)
    energy = metered_energy_wh(record, context.ledger, source)
    return {
        "id": record.api_id,
        "charge_point_id": record.charge_point_id,
        "connector_id": record.connector_id,
        "id_tag": record.id_tag,
        "active": record.active,
        "energy_wh": round(energy, 1),
        "green_energy_wh": round(green, 1),
        "green_share": round(green / energy, 4) if energy > 0 else None,
        "energy_source": source,
        "meter_start_wh": record.meter_start_wh,
        "meter_stop_wh": record.meter_stop_wh,
        "start": iso(record.start_ts),
        "stop": iso(record.stop_ts),
        "stop_reason": record.stop_reason,
        "awaiting_messages": context.central.awaiting_messages(record),
        "mode": "priority" if record.priority_charging else record.mode,
        "priority_charging": record.priority_charging,
        "priority": record.priority,
        "target_wh": record.target_wh,
        "departure": iso(record.departure_ts),
        "account_id": record.account_id,
        "cost": pricing.cost(record, energy, green, context.clock()) if pricing is not None else None,
        "grid_cost_eur": _grid_cost(context, record, pricing),
        "tariff_id": record.tariff_id,
        "station_cost": None
        if station_cost is None
        else {**station_cost, "reported_at": iso(station_cost["reported_at"])},
        "ev_needs": _ev_needs(record.ev_needs),
    }


def _ev_needs(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """The EV's stored charging needs as REST shows them: its times in UTC like every other time here."""
    if not stored:
        return None
    shown = dict(stored)
    for name in ("departure", "reported_at"):
        value = shown.get(name)
        if isinstance(value, str):
            try:
                shown[name] = iso(datetime.fromisoformat(value))
            except ValueError:
                shown[name] = None
    return shown


def _grid_cost(context: Api, record: TransactionRecord, pricing: Pricing | None) -> float | None:
    """What the session's grid energy cost the cooperative: each slot's energy that was not green at the grid
    price of that slot (the planner's prices: day-ahead with markups, the file, or flat); None when the
    accounting's slots are not at hand (no planner prices, or a session stored long ago without a tariff)."""
    slots = context.ledger.session_slots(record.id) or (pricing.stored.get(record.id) if pricing else None)
    if context.grid_price is None or not slots:
        return None
    site_id = context.central.state(record.charge_point_id).site_id
    cost = sum(max(0.0, wh - green) / 1000.0 * context.grid_price(site_id, slot) for slot, wh, green in slots)
    return round(cost, 4)


def _owned_chargers(request: web.Request) -> set[str] | None:
    """The chargers whose sessions the token sees (those at its cooperative's sites); None: all."""
    seen = tenancy(request)
    if seen.everything:
        return None
    return {state.id for state in api(request).central.states() if seen.owned_charger(state.site_id)}


async def list_sessions(request: web.Request) -> web.Response:
    """Newest first. Filters: `active`, `chargepoint`, `from`/`to` (start time); paged."""
    context = api(request)
    limit, offset = page(request)
    filters: dict[str, Any] = {
        "active": bool_query(request.query.get("active")),
        "charge_point_id": request.query.get("chargepoint") or None,
        "started_from": time_query(request, "from"),
        "started_to": time_query(request, "to"),
        "charge_point_ids": _owned_chargers(request),
    }
    records = await context.store.list_transactions(**filters, limit=limit, offset=offset)
    total = await context.store.count_transactions(**filters)
    pricing = await Pricing.load(context.store, context.ledger, records)
    stations = await context.store.station_costs.of([r.id for r in records])
    views = [session_view(context, r, pricing, stations.get(r.id)) for r in records]
    return paged(request, views, total, limit, offset)


async def get_session(request: web.Request) -> web.Response:
    """A session by its operator-facing id; `?chargepoint=` picks one when two chargers reuse an id."""
    context = api(request)
    api_id = request.match_info["session_id"]
    records = await context.store.find_transactions_by_api_id(api_id, request.query.get("chargepoint") or None)
    owned = _owned_chargers(request)
    records = [r for r in records if owned is None or r.charge_point_id in owned]
    if not records:
        return error(404, "NotFound", f"no session {api_id!r}")
    if len(records) > 1:
        chargers = sorted(r.charge_point_id for r in records)
        return error(409, "Ambiguous", f"session {api_id!r} exists on {chargers}; add ?chargepoint=")
    pricing = await Pricing.load(context.store, context.ledger, records)
    stations = await context.store.station_costs.of([records[0].id])
    return web.json_response(session_view(context, records[0], pricing, stations.get(records[0].id)))


class ChargingModeBody(BaseModel):
    model_config = {"extra": "forbid"}
    mode: str = Field(pattern="^(green|green_min|fast|departure)$")
    priority: int = Field(0, ge=0, le=100)
    energy_wh: float | None = Field(None, gt=0, description="departure mode: energy wanted")
    departure: datetime | None = Field(None, description="departure mode: when the EV leaves (UTC)")


async def set_charging_mode(request: web.Request) -> web.Response:
    """How the scheduler treats a running session: green, green_min, fast, or a departure target."""
    context = api(request)
    records = await context.store.find_transactions_by_api_id(
        request.match_info["session_id"], request.query.get("chargepoint") or None
    )
    active = [r for r in records if r.active]
    if len(active) != 1:
        return error(404, "NotFound", "no single running session with this id")
    body = await read_body(request, ChargingModeBody)
    record = active[0]
    target_wh = departure = None
    if body.mode == "departure":
        if body.energy_wh is None or body.departure is None:
            return error(422, "InvalidBody", "departure mode needs energy_wh and departure")
        departure = body.departure if body.departure.tzinfo else body.departure.replace(tzinfo=UTC)
        if (departure - context.clock()).total_seconds() <= 0:
            return error(422, "InvalidBody", "departure must be in the future")
        target_wh = body.energy_wh
    if not context.world.scheduled(record.charge_point_id):
        return error(409, "NotScheduled", "the scheduler does not manage this session (its charger is at no site)")
    await context.world.set_session_mode(record, body.mode, body.priority, target_wh, departure)
    return web.json_response({"session_id": record.api_id, "mode": body.mode, "priority": body.priority})


async def transaction_status(request: web.Request) -> web.Response:
    """GetTransactionStatus (2.0.1, E14) for a session CoopGrid holds open: the station's answer, what it means
    (chargepoints.transaction_status: ongoing, awaiting_messages, ended), and the session as it is now."""
    context = api(request)
    records = await context.store.find_transactions_by_api_id(
        request.match_info["session_id"], request.query.get("chargepoint") or None
    )
    if len(records) != 1 or records[0].ocpp_transaction_id is None:
        return error(404, "NotFound", "no single 2.0.1 session with this id (add ?chargepoint= when two reuse it)")
    record = records[0]
    payload = {"transactionId": record.ocpp_transaction_id}
    answer = await commanding(
        record.charge_point_id, context.cluster.call(record.charge_point_id, "GetTransactionStatus", payload)
    )
    if isinstance(answer, web.Response):
        return answer
    await context.central.flush_meters()
    now = await context.store.get_transaction(record.id)
    state = transaction_state(answer.get("ongoingIndicator"), bool(answer.get("messagesInQueue")))
    return web.json_response({**answer, "state": state, "session": session_view(context, now or record)})


ROUTES: tuple[Route, ...] = (
    Route(
        "get",
        "/api/sessions",
        "sessions",
        list_sessions,
        "Charging sessions (transactions)",
        roles=COOPERATIVE,
        scope=Scope.SESSION,
        response=SessionView,
        many=True,
        errors=(422,),
        query=(
            ("active", "boolean", "only running (true) or finished (false) sessions"),
            ("chargepoint", "string", "only this charge point's sessions"),
            ("from", "date-time", "only sessions started at or after this time (ISO 8601)"),
            ("to", "date-time", "only sessions started before this time (ISO 8601)"),
        ),
        tag="sessions",
        paged=True,
    ),
    Route(
        "get",
        "/api/sessions/{session_id}",
        "session",
        get_session,
        "One session",
        roles=COOPERATIVE,
        scope=Scope.SESSION,
        response=SessionView,
        errors=(404, 409),
        query=(("chargepoint", "string", "the charge point, when two reuse a 2.0.1 transaction id"),),
        tag="sessions",
    ),
    Route(
        "put",
        "/api/sessions/{session_id}/mode",
        "session-mode",
        set_charging_mode,
        "How the scheduler charges a running session: green, green_min, fast, or departure (energy by a time)",
        free_body=True,
        free_response=True,
        errors=(404, 409, 422),
        tag="sessions",
    ),
    Route(
        "post",
        "/api/sessions/{session_id}/transaction-status",
        "session-transaction-status",
        transaction_status,
        "Ask the 2.0.1 station whether the session is still ongoing there and whether messages of it are queued "
        "(GetTransactionStatus); a session it ended with nothing queued is finalized",
        free_response=True,
        errors=(404, 409, 422, 502, 504),
        query=(("chargepoint", "string", "the charge point, when two reuse a 2.0.1 transaction id"),),
        tag="sessions",
    ),
)
