"""OCPP 2.1 tariffs at the stations from REST: a station's default tariff (SetDefaultTariff) and a running
session's tariff (ChangeTransactionTariff), each the stored tariff translated by billing.ocpp21."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from ocpp.exceptions import OCPPError
from pydantic import BaseModel, Field

from billing.tariff import TariffError
from chargepoints.errors import CallFailed, CallTimeout, ChargePointError
from chargepoints.ports import TransactionRecord
from chargepoints.tariffs import change_transaction_tariff, set_default_tariff
from gateway.api.chargers import commanding
from gateway.api.context import Api, api, error
from gateway.api.params import read_body
from gateway.api.sessions import session_view
from gateway.api.table import Route
from gateway.pricing import Pricing
from gateway.station_tariffs import StoredTariffs


class DefaultTariffBody(BaseModel):
    model_config = {"extra": "forbid"}
    tariff_id: str | None = Field(
        None, max_length=36, description="the tariff to send; default: the one a guest is priced at on the charger"
    )
    evse_id: int = Field(0, ge=0, le=2**31 - 1, description="the EVSE it applies to; 0: every EVSE")


class SessionTariffBody(BaseModel):
    model_config = {"extra": "forbid"}
    tariff_id: str = Field(min_length=1, max_length=36, description="the tariff the session is priced at from now")


async def _translated(tariffs: StoredTariffs, tariff_id: str) -> dict[str, Any] | web.Response:
    try:
        return await tariffs.tariff_21(tariff_id)
    except LookupError:
        return error(404, "NotFound", f"no tariff {tariff_id!r}")
    except TariffError as exc:
        return error(422, "NotExpressible", f"tariff.{exc}")


def not_21(context: Api, charge_point_id: str, needs: str = "tariffs need") -> web.Response | None:
    """404 for a charger we do not know, 409 `NotOcpp21` for one that does not speak 2.1; None for a 2.1 one."""
    if not context.central.knows(charge_point_id):
        return error(404, "NotFound", f"no charge point {charge_point_id!r}")
    version = context.central.state(charge_point_id).ocpp_version
    if version != "2.1":
        return error(409, "NotOcpp21", f"{charge_point_id} speaks OCPP {version or 'nothing yet'}, {needs} 2.1")
    return None


async def running_21_session(
    request: web.Request, needs: str = "tariffs need"
) -> tuple[TransactionRecord, str] | web.Response:
    """The running 2.1 session of the path (`?chargepoint=` when two reuse an id) and its transaction id at
    the station; 404 when there is no single one, 409 when its station does not speak 2.1."""
    context = api(request)
    records = await context.store.find_transactions_by_api_id(
        request.match_info["session_id"], request.query.get("chargepoint") or None
    )
    active = [r for r in records if r.active]
    if len(active) != 1 or active[0].ocpp_transaction_id is None:
        return error(404, "NotFound", "no single running 2.1 session with this id (add ?chargepoint=)")
    refused = not_21(context, active[0].charge_point_id, needs)
    return refused if refused is not None else (active[0], active[0].ocpp_transaction_id)


async def tell_stations(context: Api, tariff_id: str) -> dict[str, str]:
    """A tariff stored: every connected 2.1 station whose default tariff it now is (the one a guest is priced
    at there) is sent it, all at once; station -> its answer's status, or what failed."""
    tariffs = StoredTariffs(context.store, context.clock)
    chargers = [
        s.id for s in context.central.states() if s.ocpp_version == "2.1" and context.cluster.owner(s.id) is not None
    ]
    chosen = [c for c in chargers if await tariffs.guest_tariff_id(c) == tariff_id]
    if not chosen:
        return {}
    try:
        payload = set_default_tariff(await tariffs.tariff_21(tariff_id))
    except (LookupError, TariffError):
        return {}
    told: dict[str, str] = {}

    async def tell(charge_point_id: str) -> None:
        try:
            answer = await context.cluster.call(charge_point_id, "SetDefaultTariff", payload)
        except CallTimeout:
            told[charge_point_id] = "Timeout"
        except CallFailed as exc:
            told[charge_point_id] = exc.code
        except (ChargePointError, OCPPError) as exc:
            told[charge_point_id] = type(exc).__name__
        else:
            told[charge_point_id] = str(answer.get("status"))
            event = {"tariff_id": tariff_id, "evse_id": 0, **answer}
            await context.store.events.record_event(charge_point_id, context.clock(), "SetDefaultTariff", event)

    async with asyncio.TaskGroup() as group:
        for charge_point_id in chosen:
            group.create_task(tell(charge_point_id))
    return dict(sorted(told.items()))


async def send_default_tariff(request: web.Request) -> web.Response:
    """SetDefaultTariff: the stored tariff (by default the one a guest is priced at there) to a 2.1 station."""
    context = api(request)
    charge_point_id = request.match_info["charge_point_id"]
    body = await read_body(request, DefaultTariffBody)
    refused = not_21(context, charge_point_id)
    if refused is not None:
        return refused
    tariffs = StoredTariffs(context.store, context.clock)
    tariff_id = body.tariff_id or await tariffs.guest_tariff_id(charge_point_id)
    if tariff_id is None:
        return error(404, "NoTariff", f"no tariff applies to {charge_point_id}")
    tariff = await _translated(tariffs, tariff_id)
    if isinstance(tariff, web.Response):
        return tariff
    payload = set_default_tariff(tariff, body.evse_id)
    answer = await commanding(charge_point_id, context.cluster.call(charge_point_id, "SetDefaultTariff", payload))
    if isinstance(answer, web.Response):
        return answer
    event = {"tariff_id": tariff_id, "evse_id": body.evse_id, **answer}
    await context.store.events.record_event(charge_point_id, context.clock(), "SetDefaultTariff", event)
    return web.json_response({**answer, "tariff_id": tariff_id, "evse_id": body.evse_id, "tariff": tariff})


async def change_session_tariff(request: web.Request) -> web.Response:
    """ChangeTransactionTariff: a running 2.1 session's tariff from now on; taken, CoopGrid prices the
    session at it too."""
    context = api(request)
    found = await running_21_session(request)
    if isinstance(found, web.Response):
        return found
    record, ocpp_id = found
    body = await read_body(request, SessionTariffBody)
    tariff = await _translated(StoredTariffs(context.store, context.clock), body.tariff_id)
    if isinstance(tariff, web.Response):
        return tariff
    payload = change_transaction_tariff(ocpp_id, tariff)
    answer = await commanding(
        record.charge_point_id, context.cluster.call(record.charge_point_id, "ChangeTransactionTariff", payload)
    )
    if isinstance(answer, web.Response):
        return answer
    if answer.get("status") == "Accepted":
        await context.store.set_session_tariff(record.id, body.tariff_id)
    now = await context.store.get_transaction(record.id) or record
    pricing = await Pricing.load(context.store, context.ledger, [now])
    view = session_view(context, now, pricing)
    return web.json_response({**answer, "tariff_id": body.tariff_id, "session": view})


ROUTES: tuple[Route, ...] = (
    Route(
        "post",
        "/api/chargepoints/{charge_point_id}/default-tariff",
        "chargepoint-default-tariff",
        send_default_tariff,
        "OCPP 2.1 SetDefaultTariff: a stored tariff (by default the one a guest is priced at there) as the "
        "station's default; answers the station's status and the tariff as sent",
        body=DefaultTariffBody,
        free_response=True,
        errors=(404, 409, 422, 502, 504),
    ),
    Route(
        "post",
        "/api/sessions/{session_id}/tariff",
        "session-tariff",
        change_session_tariff,
        "OCPP 2.1 ChangeTransactionTariff: a running session's tariff from now on; when the station takes it, "
        "CoopGrid prices the session at it too",
        body=SessionTariffBody,
        free_response=True,
        errors=(404, 409, 422, 502, 504),
        query=(("chargepoint", "string", "the charge point, when two reuse a transaction id"),),
        tag="sessions",
    ),
)
