"""Charge points: registry, live state, commands (any OCPP action, limits, local lists), device model, events."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from aiohttp import web
from ocpp.exceptions import OCPPError
from pydantic import BaseModel, Field

from chargepoints.errors import CallFailed, CallTimeout, NotAccepted, NotConnected, UnknownChargePoint
from chargepoints.local_list import entry, held_version, local_list_payload, update_for
from chargepoints.ports import ChargerRecord
from gateway.api.access import tenancy
from gateway.api.context import Api, api, error, iso
from gateway.api.params import (
    bool_query,
    page,
    paged,
    read_body,
    unprocessable,
)
from gateway.api.table import ALL_ROLES, Route, Scope
from gateway.api_models import (
    ChargePointView,
    ChargerCreate,
    ChargerEventView,
    ChargerUpdate,
)
from gateway.auth import hash_secret


def _connector_now(context: Api, charge_point_id: str, connector_id: int, connected: bool) -> dict[str, Any]:
    """Power, current and energy as last metered (an offline charger draws nothing we know of: no power, no
    current; its register stays), the limit the scheduler offers, the last profile sent."""
    now = context.charger_live.connector(charge_point_id, connector_id)
    offered = None
    site_id = context.central.state(charge_point_id).site_id
    allocation = context.world.allocation(site_id, context.is_leader()) if site_id else None
    for setpoint in (allocation or {}).get("setpoints", []):
        if setpoint.get("charge_point_id") == charge_point_id and setpoint.get("connector_id") == connector_id:
            offered = setpoint.get("limit_a")
    if now is None:
        return {"offered_a": offered}
    return {
        "power_w": now.power_w if connected else None,
        "current_a": now.current_a if connected else None,
        "energy_wh": now.energy_wh,
        "metered": iso(now.metered),
        "offered_a": offered,
        "profile": None
        if now.profile is None
        else {
            "purpose": now.profile,
            "limit_a": now.limit_a,
            "status": now.profile_status,
            "sent": iso(now.profile_sent),
        },
    }


def charger_view(context: Api, charge_point_id: str) -> dict[str, Any]:
    state = context.central.state(charge_point_id)
    connected = context.cluster.owner(state.id) is not None
    return {
        "id": state.id,
        "connected": connected,
        "ocpp_version": state.ocpp_version,
        "registration": state.registration,
        "site_id": state.site_id,
        "connectors": {
            str(k): {"status": v, "stale": not connected, **_connector_now(context, state.id, k, connected)}
            for k, v in sorted(state.connectors.items())
        },  # offline: the last status, kept and marked stale
        "last_seen": iso(state.last_seen),
        "managed": context.managed(state.id),
    }


async def list_chargepoints(request: web.Request) -> web.Response:
    """Filters: `site`, `status` (of any connector), `connected`; paged."""
    context = api(request)
    limit, offset = page(request)
    site, status = request.query.get("site"), request.query.get("status")
    connected = bool_query(request.query.get("connected"), "connected")
    seen = tenancy(request)
    views = [charger_view(context, s.id) for s in context.central.states() if seen.charger(s.site_id)]
    views = [
        v
        for v in views
        if (not site or v["site_id"] == site)
        and (not status or any(c["status"] == status for c in v["connectors"].values()))
        and (connected is None or v["connected"] == connected)
    ]
    return paged(request, views[offset : offset + limit], len(views), limit, offset)


async def get_chargepoint(request: web.Request) -> web.Response:
    context = api(request)
    charge_point_id = request.match_info["charge_point_id"]
    if not context.central.knows(charge_point_id) or not tenancy(request).charger(
        context.central.state(charge_point_id).site_id
    ):
        return error(404, "NotFound", f"no charge point {charge_point_id!r}")
    return web.json_response(charger_view(context, charge_point_id))


async def ocpp_action(request: web.Request) -> web.Response:
    charge_point_id = request.match_info["charge_point_id"]
    action = request.match_info["action"]
    try:
        payload = await request.json()
    except ValueError:  # not JSON, or not even UTF-8
        return error(422, "InvalidJson", "the body must be a JSON object (the OCPP payload)")
    if not isinstance(payload, dict):
        return error(422, "InvalidPayload", "the body must be a JSON object (the OCPP payload)")
    return await _forward(request, charge_point_id, action, payload)


async def commanding(charge_point_id: str, command: Awaitable[Any]) -> Any:
    """Await a command to a charger; failures become the REST error the API promises."""
    try:
        return await command
    except UnknownChargePoint:
        return error(404, "NotFound", f"no charge point {charge_point_id!r}")
    except NotConnected:
        return error(409, "NotConnected", f"{charge_point_id} is not connected")
    except NotAccepted as exc:
        return error(409, "NotAccepted", str(exc))
    except CallFailed as exc:
        return error(502, exc.code, exc.description or exc.code)
    except CallTimeout as exc:
        return error(504, "Timeout", str(exc))
    except OCPPError as exc:
        cause = exc.details.get("cause") if isinstance(exc.details, dict) else None
        return error(422, exc.code, str(cause or exc.description))


async def _forward(
    request: web.Request,
    charge_point_id: str,
    action: str,
    payload: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> web.Response:
    """Send a CSMS-initiated call and map the outcome to HTTP."""
    context = api(request)
    answer = await commanding(charge_point_id, context.cluster.call(charge_point_id, action, payload))
    if isinstance(answer, web.Response):
        return answer
    return web.json_response({**answer, **extra} if extra else answer)


def _check_site(context: Api, site_id: str | None) -> None:
    if site_id is not None and site_id not in context.world.sites:
        raise unprocessable("UnknownSite", f"site_id: no site {site_id!r} (create it with POST /api/sites)")


async def _placed(context: Api, charge_point_id: str, body: ChargerCreate | ChargerUpdate, known: bool) -> None:
    """The charger's electrical spec into the store (when given), and every scheduler told."""
    given = {
        name: getattr(body, name)
        for name in ("phases", "min_current_a", "max_current_a", "phase_switching")
        if getattr(body, name) is not None
    }
    if given or not known:
        current = (await context.store.charger_specs()).get(charge_point_id, {})
        spec: dict[str, Any] = {"phases": 3, "min_current_a": 6.0, "max_current_a": 16.0, "phase_switching": False}
        spec.update({k: v for k, v in current.items() if k in spec})
        spec.update(given)
        if spec["max_current_a"] < spec["min_current_a"]:
            raise unprocessable("InvalidBody", "max_current_a must be >= min_current_a")
        await context.store.set_charger_spec(
            charge_point_id,
            phases=int(spec["phases"]),
            min_current_a=float(spec["min_current_a"]),
            max_current_a=float(spec["max_current_a"]),
            phase_switching=bool(spec["phase_switching"]),
        )
        context.central.state(charge_point_id).phases = int(spec["phases"])  # limits sent in W count these phases
    await context.world.reload()
    context.world.announce()


def _check_profile(profile: int, password: str | None, had_password: bool) -> None:
    if profile in (1, 2) and not (password or had_password):
        raise unprocessable("PasswordRequired", "security profiles 1 and 2 need a password (16-40 characters)")


async def create_chargepoint(request: web.Request) -> web.Response:
    context = api(request)
    body = await read_body(request, ChargerCreate)
    _check_site(context, body.site_id)
    if await context.store.get_charger(body.id) is not None:
        return error(409, "Exists", f"charge point {body.id!r} is already registered")
    _check_profile(body.security_profile, body.password, False)
    await context.central.register(ChargerRecord(id=body.id, site_id=body.site_id))
    await context.store.set_credentials(
        body.id, body.security_profile, hash_secret(body.password) if body.password else None
    )
    await _placed(context, body.id, body, known=False)
    return web.json_response(charger_view(context, body.id), status=201)


async def update_chargepoint(request: web.Request) -> web.Response:
    context = api(request)
    charge_point_id = request.match_info["charge_point_id"]
    body = await read_body(request, ChargerUpdate)
    _check_site(context, body.site_id)
    await context.central.flush()  # boots are written behind: start from the newest record
    record = await context.store.get_charger(charge_point_id)
    credentials = await context.store.get_credentials(charge_point_id)
    if record is None or credentials is None:
        return error(404, "NotFound", f"no charge point {charge_point_id!r}")
    profile = body.security_profile if body.security_profile is not None else credentials[0]
    _check_profile(profile, body.password, credentials[1] is not None)
    if body.site_id is not None:
        record.site_id = body.site_id
    if body.registration is not None:
        record.registration = body.registration
    await context.store.save_charger(record)
    await context.central.register(record)
    password_hash = hash_secret(body.password) if body.password else credentials[1]
    await context.store.set_credentials(charge_point_id, profile, password_hash)
    await _placed(context, charge_point_id, body, known=True)
    return web.json_response(charger_view(context, charge_point_id))


class LimitBody(BaseModel):
    model_config = {"extra": "forbid"}
    connector_id: int = Field(1, ge=0)
    limit_a: float = Field(ge=0, le=1000)


async def set_limit(request: web.Request) -> web.Response:
    """Cap a connector (1.6) or EVSE (2.0.1): a TxProfile on its running transaction, else a TxDefaultProfile."""
    context = api(request)
    charge_point_id = request.match_info["charge_point_id"]
    body = await read_body(request, LimitBody)
    running = [
        r
        for r in await context.store.list_transactions(active=True, charge_point_id=charge_point_id)
        if r.connector_id == body.connector_id
    ]
    status = await commanding(
        charge_point_id,
        context.cluster.set_current_limit(
            charge_point_id, body.connector_id, body.limit_a, running[0].id if running else None
        ),
    )
    if isinstance(status, web.Response):
        return status
    context.charger_live.limit_sent(
        charge_point_id, body.connector_id, body.limit_a, running[0].id if running else None, str(status)
    )
    return web.json_response({"status": status})


async def send_local_list(request: web.Request) -> web.Response:
    """SendLocalList from the id tag table: Differential from the changes since the version the charger holds
    (GetLocalListVersion), Full when it holds none (or a Differential comes back VersionMismatch)."""
    context = api(request)
    charge_point_id = request.match_info["charge_point_id"]
    version = context.central.state(charge_point_id).ocpp_version or "1.6"
    held_answer = await commanding(charge_point_id, context.cluster.call(charge_point_id, "GetLocalListVersion", {}))
    if isinstance(held_answer, web.Response):
        return held_answer
    held = held_version(version, held_answer)
    oldest, newest, changes = await context.store.id_tag_changes_since(held if held and held > 0 else 0)
    update = update_for(held, oldest, newest)
    if update == "UpToDate":
        return web.json_response({"list_version": held, "update_type": "UpToDate"})
    list_version = max(newest, 1)
    if update == "Differential":
        entries = [entry(version, id_tag, tag) for id_tag, tag in changes]
        payload = local_list_payload(version, list_version, "Differential", entries)
        answer = await commanding(charge_point_id, context.cluster.call(charge_point_id, "SendLocalList", payload))
        if isinstance(answer, web.Response) or answer.get("status") != "VersionMismatch":
            return _local_list_answer(answer, list_version, "Differential")
    tags = await context.store.list_id_tags()
    entries = [entry(version, str(tag["id_tag"]), tag) for tag in tags]
    payload = local_list_payload(version, list_version, "Full", entries)
    answer = await commanding(charge_point_id, context.cluster.call(charge_point_id, "SendLocalList", payload))
    return _local_list_answer(answer, list_version, "Full")


def _local_list_answer(answer: Any, list_version: int, update: str) -> web.Response:
    if isinstance(answer, web.Response):
        return answer
    return web.json_response({**answer, "list_version": list_version, "update_type": update})


async def list_variables(request: web.Request) -> web.Response:
    """An OCPP 2.0.1 charger's stored device model (NotifyReport, Get/SetVariables)."""
    context = api(request)
    charge_point_id = request.match_info["charge_point_id"]
    if not context.central.knows(charge_point_id):
        return error(404, "NotFound", f"no charge point {charge_point_id!r}")
    return web.json_response(await context.store.list_variables(charge_point_id))


async def list_charger_events(request: web.Request) -> web.Response:
    context = api(request)
    charge_point_id = request.match_info["charge_point_id"]
    if not context.central.knows(charge_point_id):
        return error(404, "NotFound", f"no charge point {charge_point_id!r}")
    limit, offset = page(request, default=200)
    events = await context.store.events.list(charge_point_id, limit=limit, offset=offset)
    return paged(request, events, await context.store.events.count(charge_point_id), limit, offset)


ROUTES: tuple[Route, ...] = (
    Route(
        "get",
        "/api/chargepoints",
        "chargepoints",
        list_chargepoints,
        "Charge points with live state",
        roles=ALL_ROLES,
        scope=Scope.CHARGER,
        response=ChargePointView,
        many=True,
        errors=(422,),
        query=(
            ("site", "string", "only this site's charge points"),
            ("status", "string", "only charge points with a connector in this status (e.g. Charging)"),
            ("connected", "boolean", "only connected (true) or disconnected (false) charge points"),
        ),
        paged=True,
    ),
    Route(
        "post",
        "/api/chargepoints",
        "chargepoint-create",
        create_chargepoint,
        "Register a charge point",
        body=ChargerCreate,
        response=ChargePointView,
        status=201,
        errors=(409, 422),
    ),
    Route(
        "get",
        "/api/chargepoints/{charge_point_id}",
        "chargepoint",
        get_chargepoint,
        "One charge point",
        roles=ALL_ROLES,
        scope=Scope.CHARGER,
        response=ChargePointView,
        errors=(404,),
    ),
    Route(
        "patch",
        "/api/chargepoints/{charge_point_id}",
        "chargepoint-update",
        update_chargepoint,
        "Update password, security profile, site or registration",
        body=ChargerUpdate,
        response=ChargePointView,
        errors=(404, 422),
    ),
    Route(
        "get",
        "/api/chargepoints/{charge_point_id}/events",
        "chargepoint-events",
        list_charger_events,
        "Firmware, diagnostics, security and data-transfer events the charger reported",
        response=ChargerEventView,
        many=True,
        errors=(404, 422),
        paged=True,
    ),
    Route(
        "get",
        "/api/chargepoints/{charge_point_id}/variables",
        "chargepoint-variables",
        list_variables,
        "An OCPP 2.0.1 charger's stored device model (NotifyReport, GetVariables, SetVariables)",
        many=True,
        free_response=True,
        errors=(404,),
    ),
    Route(
        "post",
        "/api/chargepoints/{charge_point_id}/local-list",
        "local-list",
        send_local_list,
        "Send the id tag table as the charger's local authorization list: Differential from the changes since "
        "the version it holds, Full when it holds none",
        free_response=True,
        errors=(404, 409, 502, 504),
    ),
    Route(
        "post",
        "/api/chargepoints/{charge_point_id}/ocpp/{action}",
        "ocpp-action",
        ocpp_action,
        "Send any central-system-initiated OCPP action with its OCPP payload; answers the charger's payload",
        free_body=True,
        free_response=True,
        errors=(404, 409, 422, 502, 504),
    ),
    Route(
        "post",
        "/api/chargepoints/{charge_point_id}/limit",
        "limit",
        set_limit,
        "Cap a connector (1.6) or EVSE (2.0.1) in amperes: a TxProfile on its running transaction, else TxDefault",
        free_body=True,
        free_response=True,
        errors=(404, 409, 422, 502, 504),
    ),
)
