"""OCPP 2.1 priority charging from REST: UsePriorityCharging for a running 2.1 session; when the station takes
it, the scheduler charges the session in mode `priority` (its maximum, first, within the site's limit), and
in its own mode again once it is off."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from gateway.api.chargers import commanding
from gateway.api.context import api
from gateway.api.params import read_body
from gateway.api.sessions import session_view
from gateway.api.station_tariffs import running_21_session
from gateway.api.table import Route


class PriorityChargingBody(BaseModel):
    model_config = {"extra": "forbid"}
    activate: bool = Field(description="true: priority charging on; false: off (the session's own mode again)")


async def use_priority_charging(request: web.Request) -> web.Response:
    """UsePriorityCharging: ask the 2.1 station to charge a running session with priority (or to stop)."""
    context = api(request)
    found = await running_21_session(request, "priority charging needs")
    if isinstance(found, web.Response):
        return found
    record, ocpp_id = found
    body = await read_body(request, PriorityChargingBody)
    charge_point_id = record.charge_point_id
    payload = {"transactionId": ocpp_id, "activate": body.activate}
    answer = await commanding(charge_point_id, context.cluster.call(charge_point_id, "UsePriorityCharging", payload))
    if isinstance(answer, web.Response):
        return answer
    if answer.get("status") == "Accepted":
        await context.world.set_priority_charging(record, body.activate)
    event = {"transaction_id": ocpp_id, "activate": body.activate, **answer}
    await context.store.events.record_event(charge_point_id, context.clock(), "UsePriorityCharging", event)
    now = await context.store.get_transaction(record.id) or record
    view = session_view(context, now)
    return web.json_response({**answer, "priority_charging": now.priority_charging, "session": view})


ROUTES: tuple[Route, ...] = (
    Route(
        "post",
        "/api/sessions/{session_id}/priority-charging",
        "session-priority-charging",
        use_priority_charging,
        "OCPP 2.1 UsePriorityCharging: a running session charged with priority (activate true) or not (false); "
        "when the station takes it, the scheduler charges it in mode priority (its maximum, first, within the "
        "site's limit), and in its own mode again once off",
        body=PriorityChargingBody,
        free_response=True,
        errors=(404, 409, 422, 502, 504),
        query=(("chargepoint", "string", "the charge point, when two reuse a transaction id"),),
        tag="sessions",
    ),
)
