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

A station that connects again after an outage sends what it queued. Any transaction CoopGrid still holds
open for it that it has not mentioned `ocpp.transaction_status_after_s` (30 s) after connecting is asked
about, one GetTransactionStatus each: one that ended at the station while its Ended event was lost is then
closed instead of staying open for good.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from chargepoints.ports import ChargePointRepository, TransactionRecord

ONGOING, AWAITING, ENDED, UNKNOWN = "ongoing", "awaiting_messages", "ended", "unknown"


def transaction_state(ongoing: bool | None, queued: bool) -> str:
    """What a GetTransactionStatus answer says of the transaction it was asked about."""
    if ongoing is None:
        return UNKNOWN
    if ongoing:
        return ONGOING
    return AWAITING if queued else ENDED


class TransactionStatus:
    """Part of CentralSystem: GetTransactionStatus answers, and the question asked of a station that comes back.

    What a station said is kept with the transaction (`awaiting_since`, in SQL), so a restart of this
    instance, or another instance the station reconnects to, still knows which transactions await their
    queued messages."""

    now: Callable[[], datetime]
    transaction_status_after_s: float  # after a 2.0.1 station connects: when to ask of what it did not report

    # CentralSystem's
    _repo: ChargePointRepository
    find_transaction_201: Callable[[str, str], Awaitable[TransactionRecord | None]]
    last_register: Callable[[TransactionRecord], float]
    stop_transaction: Callable[..., Awaitable[None]]
    record: Callable[[str, str, dict[str, Any]], Awaitable[None]]

    def awaiting_messages(self, record: TransactionRecord) -> bool:
        """An open transaction the station said ended, its queued messages not yet arrived."""
        return record.active and record.awaiting_since is not None

    async def transaction_status(
        self, charge_point_id: str, ocpp_transaction_id: str | None, ongoing: bool | None, queued: bool
    ) -> None:
        """A GetTransactionStatus answer."""
        if ocpp_transaction_id is None:
            if not queued:  # E14.FR.05: no transaction message queued at all
                for open_record in await self._repo.open_transactions(charge_point_id):
                    if open_record.awaiting_since is not None and open_record.ocpp_transaction_id is not None:
                        await self._finalize(charge_point_id, open_record.ocpp_transaction_id)
            return
        record = await self.find_transaction_201(charge_point_id, ocpp_transaction_id)
        if record is None or not record.active:
            return
        state = transaction_state(ongoing, queued)
        if state == ONGOING:
            if record.awaiting_since is not None:  # it said otherwise before: it runs after all
                await self._repo.set_awaiting_messages(record.id, None)
            return
        if state == UNKNOWN:  # the station did not say (it must when asked of a transaction): nothing learnt
            return
        if state == AWAITING:
            if record.awaiting_since is None:
                await self._repo.set_awaiting_messages(record.id, self.now())
                await self.record(
                    charge_point_id, "TransactionAwaitingMessages", {"transactionId": ocpp_transaction_id}
                )
            return
        await self._finalize(charge_point_id, ocpp_transaction_id)

    async def unreported_transactions(self, charge_point_id: str, heard: set[str]) -> list[str]:
        """The station's transactions CoopGrid holds open that it has not reported on since it connected
        (`heard`: the transaction ids of its TransactionEvents on this connection): those to ask about."""
        return [
            record.ocpp_transaction_id
            for record in await self._repo.open_transactions(charge_point_id)
            if record.ocpp_transaction_id is not None and record.ocpp_transaction_id not in heard
        ]

    async def _finalize(self, charge_point_id: str, ocpp_transaction_id: str) -> None:
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
