"""Reservations (OCPP 1.6 ReserveNow/CancelReservation, 2.0.1 H01-H04): the rules, pure (time is passed in).

A reservation holds one connector (1.6) or EVSE (2.0.1) for one id tag, or for any tag of its parent (group)
tag, until it expires, is cancelled, or a transaction uses it. While it holds, a transaction another tag starts
there is answered Invalid (the charger stops it, or does not start it). Reservations of connector 0 (1.6: the
charger as a whole) or of no EVSE (2.0.1) hold no connector in particular: the charger keeps one free itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

ACTIVE, REQUESTED, USED, CANCELLED, EXPIRED = "Active", "Requested", "Used", "Cancelled", "Expired"
REFUSED, FAILED, REMOVED = "Refused", "Failed", "Removed"


@dataclass(frozen=True, slots=True)
class Reservation:
    id: int  # the OCPP reservationId (1.6) / id (2.0.1), assigned by us
    charge_point_id: str
    connector_id: int  # 1.6 connector or 2.0.1 EVSE; 0: the charger as a whole
    id_tag: str
    expiry_ts: datetime
    status: str
    parent_id_tag: str | None = None
    id_token_type: str = "Central"
    charger_status: str | None = None  # what the charger answered ReserveNow
    transaction_id: int | None = None  # the transaction that used it


def status_at(reservation: Reservation, now: datetime) -> str:
    """Its status now: an Active reservation past its expiry has Expired."""
    if reservation.status == ACTIVE and reservation.expiry_ts <= now:
        return EXPIRED
    return reservation.status


def holds(reservation: Reservation, connector_id: int, now: datetime) -> bool:
    """True when the reservation keeps `connector_id` for its tag now."""
    return (
        reservation.connector_id != 0
        and reservation.connector_id == connector_id
        and status_at(reservation, now) == ACTIVE
    )


def admits(reservation: Reservation, id_tag: str, group_id: str | None) -> bool:
    """True when `id_tag` (of group `group_id`) is the one the reservation is for."""
    if id_tag == reservation.id_tag:
        return True
    return reservation.parent_id_tag is not None and group_id == reservation.parent_id_tag


def reserve_now(version: str, reservation: Reservation) -> dict[str, Any]:
    """The ReserveNow payload of the charger's version."""
    expiry = reservation.expiry_ts.isoformat().replace("+00:00", "Z")
    if version == "1.6":
        payload: dict[str, Any] = {
            "connectorId": reservation.connector_id,
            "expiryDate": expiry,
            "idTag": reservation.id_tag,
            "reservationId": reservation.id,
        }
        if reservation.parent_id_tag:
            payload["parentIdTag"] = reservation.parent_id_tag
        return payload
    payload = {
        "id": reservation.id,
        "expiryDateTime": expiry,
        "idToken": {"idToken": reservation.id_tag, "type": reservation.id_token_type},
    }
    if reservation.connector_id:
        payload["evseId"] = reservation.connector_id
    if reservation.parent_id_tag:
        payload["groupIdToken"] = {"idToken": reservation.parent_id_tag, "type": "Central"}
    return payload


def cancel(version: str, reservation: Reservation) -> dict[str, Any]:
    """The CancelReservation payload of the charger's version."""
    return {"reservationId": reservation.id}
