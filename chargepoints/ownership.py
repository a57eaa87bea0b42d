"""Transactions belong to the charger that started them: the owner of each, remembered, and what a message
naming another's (or no) transaction leaves behind — a ForeignTransaction event, a count, one log line."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from chargepoints.ports import (
    ChargePointRepository,
    TransactionRecord,
)
from chargepoints.session import OcppSession

log = logging.getLogger("chargepoints.central")

MAX_KNOWN_OWNERS = 200_000  # transaction id -> charger, kept in memory (ownership never changes)
MAX_RECORDED_FOREIGN = 100  # distinct foreign-transaction events kept per connection; the rest only counted


class TransactionOwnership:
    """Part of CentralSystem: the owners of transactions and the refusal of others'."""

    _repo: ChargePointRepository
    _owners: dict[int, str]
    _sessions: dict[str, OcppSession]
    foreign_transactions: Counter[tuple[str, str]]

    async def record(self, charge_point_id: str, kind: str, payload: dict[str, Any]) -> None:
        raise NotImplementedError

    def _remember_owner(self, record: TransactionRecord) -> None:
        if record.id not in self._owners and len(self._owners) >= MAX_KNOWN_OWNERS:
            del self._owners[next(iter(self._owners))]  # the oldest: looked up again if it is ever named
        self._owners[record.id] = record.charge_point_id

    async def transaction_owner(self, transaction_id: int) -> str | None:
        """The charger a transaction belongs to; None when there is no such transaction."""
        owner = self._owners.get(transaction_id)
        if owner is None:
            record = await self._repo.get_transaction(transaction_id)
            if record is None:
                return None
            self._remember_owner(record)
            owner = record.charge_point_id
        return owner

    async def _owned(self, charge_point_id: str, transaction_id: int, action: str) -> bool:
        """True when `charge_point_id` owns the transaction; otherwise the attempt is recorded and counted."""
        owner = await self.transaction_owner(transaction_id)
        if owner == charge_point_id:
            return True
        reason = "unknown" if owner is None else "foreign"
        session = self._sessions.get(charge_point_id)
        if session is not None and session.outcome is not None:
            return False  # this message is counted already (a second sample of it, say)
        self.foreign_transactions[(action, reason)] += 1
        first, keep = True, True
        if session is not None:
            first = session.foreign_transactions == 0
            session.foreign_transactions += 1
            key = (action, transaction_id)
            keep = key not in session.foreign_recorded and len(session.foreign_recorded) < MAX_RECORDED_FOREIGN
            if keep:
                session.foreign_recorded.add(key)
            session.note_outcome("ForeignTransaction" if owner is not None else "UnknownTransaction")
        if first:
            log.warning(
                "%s: %s names transaction %s, %s; it changes nothing (further ones this connection are not logged)",
                charge_point_id,
                action,
                repr(transaction_id)[:20],
                "another charger's" if owner is not None else "which does not exist",
            )
        if keep:
            payload: dict[str, Any] = {"action": action, "transactionId": transaction_id, "reason": reason}
            await self.record(charge_point_id, "ForeignTransaction", payload)
        return False
