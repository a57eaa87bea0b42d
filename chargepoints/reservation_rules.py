"""Part of CentralSystem: a reserved connector held for its tag, and the reservation a transaction uses up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from chargepoints.ports import IdTagStatus, Reservations
from chargepoints.reservations import ACTIVE, admits, holds


class ReservationRules:
    _reservations: Reservations | None
    now: Callable[[], datetime]

    record: Callable[[str, str, dict[str, Any]], Awaitable[None]]  # CentralSystem's

    async def reservation_check(
        self,
        charge_point_id: str,
        connector_id: int,
        id_tag: str,
        reservation_id: int | None,
        transaction_id: int,
        info: IdTagStatus,
    ) -> IdTagStatus:
        """A transaction starting: the reservation it uses is used up (named by the charger, or held there for
        its tag); on a connector reserved for another tag it is answered Invalid."""
        if self._reservations is None:
            return info
        now = self.now()
        used = reservation_id
        refused = False
        for reservation in await self._reservations.active(charge_point_id):
            if reservation.id == reservation_id:
                continue
            mine = admits(reservation, id_tag, info.group_id) and info.status == "Accepted"
            here = holds(reservation, connector_id, now) or (
                reservation.connector_id == 0 and reservation.expiry_ts > now
            )
            if mine and here and used is None:
                used = reservation.id  # 1.6 §5.13: a transaction of the reserved tag ends the reservation
            elif holds(reservation, connector_id, now) and not mine:
                refused = True
        if used is not None:
            await self._reservations.use(charge_point_id, used, transaction_id)
        if refused and used is None and info.status == "Accepted":
            await self.record(charge_point_id, "ReservedConnector", {"connector_id": connector_id})
            return IdTagStatus("Invalid", known=info.known, expiry=info.expiry, group_id=info.group_id)
        return info

    async def reservation_status(self, charge_point_id: str, reservation_id: int, status: str) -> None:
        """2.0.1 ReservationStatusUpdate: Expired or Removed at the station."""
        if self._reservations is not None and status != ACTIVE:
            await self._reservations.set_status(charge_point_id, reservation_id, status)
