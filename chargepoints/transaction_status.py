"""Part of CentralSystem: GetTransactionStatus (OCPP 2.0.1 / 2.1, use case E14) and what its answer means.

E14.FR.01-08: the station says whether a transaction is still ongoing there (`ongoingIndicator`, only when
the request named one) and whether it still has transaction messages queued (`messagesInQueue`). What
the central system makes of it, for a transaction it holds open:
- ongoing: nothing changes;
- not ongoing, messages queued: it ended at the station and its last events are on their way; the
  transaction stays open, *awaiting* them, and the queued TransactionEvent Ended closes it as usual;
- not ongoing, nothing queued: it ended and its Ended event will never come (lost before it was
  sent); the transaction is finalized here, at its last register, reason "Other", and kept as a
  "TransactionEndUnreported" charger event.
Asked without a transaction, "nothing queued" finalizes every transaction of the station awaiting its
messages (they cannot arrive any more).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from chargepoints.ports import TransactionRecord

ONGOING, AWAITING, ENDED, UNKNOWN = "ongoing", "awaiting_messages", "ended", "unknown"


def transaction_state(ongoing: bool | None, queued: bool) -> str:
    """What a GetTransactionStatus answer says of the transaction it was asked about."""
    if ongoing is None:
        return UNKNOWN
    if ongoing:
        return ONGOING
    return AWAITING if queued else ENDED


class TransactionStatus:
    _awaiting: dict[tuple[str, str], datetime]  # (station, its transaction id) -> since when
    now: Callable[[], datetime]

    # CentralSystem's
    find_transaction_201: Callable[[str, str], Awaitable[TransactionRecord | None]]
    last_register: Callable[[TransactionRecord], float]
    stop_transaction: Callable[..., Awaitable[None]]
    record: Callable[[str, str, dict[str, Any]], Awaitable[None]]

    def awaiting_messages(self, record: TransactionRecord) -> bool:
        """An open transaction the station said ended, its queued messages not yet arrived."""
        key = (record.charge_point_id, record.ocpp_transaction_id or "")
        return record.active and key in self._awaiting

    def transaction_settled(self, charge_point_id: str, ocpp_transaction_id: str | None) -> None:
        """The transaction ended (its Ended event arrived, or we finalized it): nothing awaited any more."""
        if ocpp_transaction_id is not None:
            self._awaiting.pop((charge_point_id, ocpp_transaction_id), None)

    async def transaction_status(
        self, charge_point_id: str, ocpp_transaction_id: str | None, ongoing: bool | None, queued: bool
    ) -> None:
        """A GetTransactionStatus answer."""
        if ocpp_transaction_id is None:
            if not queued:  # E14.FR.05: no transaction message queued at all
                for station, transaction in [key for key in self._awaiting if key[0] == charge_point_id]:
                    await self._finalize(station, transaction)
            return
        record = await self.find_transaction_201(charge_point_id, ocpp_transaction_id)
        state = transaction_state(ongoing, queued)
        if record is None or not record.active or state == ONGOING:
            self.transaction_settled(charge_point_id, ocpp_transaction_id)
            return
        if state == UNKNOWN:  # the station did not say (it must when asked of a transaction): nothing learnt
            return
        if state == AWAITING:
            if (charge_point_id, ocpp_transaction_id) not in self._awaiting:
                self._awaiting[(charge_point_id, ocpp_transaction_id)] = self.now()
                await self.record(
                    charge_point_id, "TransactionAwaitingMessages", {"transactionId": ocpp_transaction_id}
                )
            return
        await self._finalize(charge_point_id, ocpp_transaction_id)

    async def _finalize(self, charge_point_id: str, ocpp_transaction_id: str) -> None:
        self.transaction_settled(charge_point_id, ocpp_transaction_id)
        record = await self.find_transaction_201(charge_point_id, ocpp_transaction_id)
        if record is None or not record.active:
            return
        stop_wh = self.last_register(record)
        await self.stop_transaction(
            charge_point_id, record.id, stop_wh, self.now(), "Other", action="GetTransactionStatus"
        )
        await self.record(
            charge_point_id, "TransactionEndUnreported", {"transactionId": ocpp_transaction_id, "meterStop": stop_wh}
        )
