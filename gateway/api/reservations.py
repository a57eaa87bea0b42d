"""Reservations: made (ReserveNow), listed, cancelled (CancelReservation); stored with what became of them."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from aiohttp import web

from chargepoints.reservations import (
    ACTIVE,
    CANCELLED,
    FAILED,
    REFUSED,
    REQUESTED,
    Reservation,
    cancel,
    reserve_now,
    status_at,
)
from gateway.api.chargers import commanding
from gateway.api.context import Api, api, error, iso
from gateway.api.params import bool_query, read_body, unprocessable
from gateway.api.table import Route
from gateway.api_models import ReservationBody, ReservationView


def reservation_view(context: Api, reservation: Reservation) -> dict[str, Any]:
    return {
        "id": reservation.id,
        "charge_point_id": reservation.charge_point_id,
        "connector_id": reservation.connector_id,
        "id_tag": reservation.id_tag,
        "parent_id_tag": reservation.parent_id_tag,
        "expiry_date": iso(reservation.expiry_ts),
        "status": status_at(reservation, context.clock()),
        "charger_status": reservation.charger_status,
        "transaction_id": reservation.transaction_id,
    }


def _version(context: Api, charge_point_id: str) -> str:
    return context.central.state(charge_point_id).ocpp_version or "1.6"


async def create_reservation(request: web.Request) -> web.Response:
    """Store the reservation, send ReserveNow; Active when the charger accepts, else Refused with its answer."""
    context = api(request)
    charge_point_id = request.match_info["charge_point_id"]
    body = await read_body(request, ReservationBody)
    if not context.central.knows(charge_point_id):
        return error(404, "NotFound", f"no charge point {charge_point_id!r}")
    expiry = body.expiry_date if body.expiry_date.tzinfo else body.expiry_date.replace(tzinfo=UTC)
    now = context.clock()
    if expiry <= now:
        raise unprocessable("InvalidBody", "expiry_date: must be in the future")
    reservation = await context.store.reservations.create(
        charge_point_id,
        body.connector_id,
        body.id_tag,
        expiry,
        now,
        status=REQUESTED,
        parent_id_tag=body.parent_id_tag,
        id_token_type=body.id_token_type,
    )
    payload = reserve_now(_version(context, charge_point_id), reservation)
    answer = await commanding(charge_point_id, context.cluster.call(charge_point_id, "ReserveNow", payload))
    if isinstance(answer, web.Response):
        await context.store.reservations.settle(reservation.id, FAILED)
        return answer
    charger_status = str(answer.get("status"))
    settled = await context.store.reservations.settle(
        reservation.id, ACTIVE if charger_status == "Accepted" else REFUSED, charger_status
    )
    assert settled is not None
    return web.json_response(reservation_view(context, settled), status=201)


async def list_reservations(request: web.Request) -> web.Response:
    """Filters: `chargepoint`, `active` (true: holding now)."""
    context = api(request)
    active = bool_query(request.query.get("active"))
    views = [
        reservation_view(context, r) for r in await context.store.reservations.listed(request.query.get("chargepoint"))
    ]
    if active is not None:
        views = [v for v in views if (v["status"] == ACTIVE) == active]
    return web.json_response(views)


def _reservation_id(request: web.Request) -> int:
    text = request.match_info["reservation_id"]
    if not text.isascii() or not text.isdecimal() or int(text) >= 2**31:
        raise unprocessable("InvalidId", "reservation_id: an integer")
    return int(text)


async def get_reservation(request: web.Request) -> web.Response:
    context = api(request)
    reservation = await context.store.reservations.get(_reservation_id(request))
    if reservation is None:
        return error(404, "NotFound", "no such reservation")
    return web.json_response(reservation_view(context, reservation))


async def cancel_reservation(request: web.Request) -> web.Response:
    """CancelReservation to the charger; Cancelled once it answers (Rejected: it holds no such reservation)."""
    context = api(request)
    reservation = await context.store.reservations.get(_reservation_id(request))
    if reservation is None:
        return error(404, "NotFound", "no such reservation")
    if status_at(reservation, context.clock()) != ACTIVE:
        return error(409, "NotActive", f"the reservation is {status_at(reservation, context.clock())}")
    charge_point_id = reservation.charge_point_id
    payload = cancel(_version(context, charge_point_id), reservation)
    answer = await commanding(charge_point_id, context.cluster.call(charge_point_id, "CancelReservation", payload))
    if isinstance(answer, web.Response):
        return answer
    settled = await context.store.reservations.settle(reservation.id, CANCELLED, str(answer.get("status")))
    assert settled is not None
    return web.json_response(reservation_view(context, settled))


ROUTES: tuple[Route, ...] = (
    Route(
        "post",
        "/api/chargepoints/{charge_point_id}/reservations",
        "reservation-create",
        create_reservation,
        "Reserve a connector (1.6) or EVSE (2.0.1) for an id tag: stored, sent with ReserveNow",
        body=ReservationBody,
        response=ReservationView,
        status=201,
        errors=(404, 409, 422, 502, 504),
        tag="reservations",
    ),
    Route(
        "get",
        "/api/reservations",
        "reservations",
        list_reservations,
        "Reservations, with what became of them (Active, Used, Cancelled, Expired, Removed, Refused, Failed)",
        response=ReservationView,
        many=True,
        errors=(422,),
        query=(
            ("chargepoint", "string", "only this charge point's"),
            ("active", "boolean", "only those holding now (true) or not (false)"),
        ),
        tag="reservations",
    ),
    Route(
        "get",
        "/api/reservations/{reservation_id}",
        "reservation",
        get_reservation,
        "One reservation",
        response=ReservationView,
        errors=(404, 422),
        tag="reservations",
    ),
    Route(
        "delete",
        "/api/reservations/{reservation_id}",
        "reservation-cancel",
        cancel_reservation,
        "Cancel a reservation (CancelReservation to the charger)",
        response=ReservationView,
        errors=(404, 409, 422, 502, 504),
        tag="reservations",
    ),
)
