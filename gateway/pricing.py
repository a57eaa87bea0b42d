"""What sessions cost: their tariff (chosen when they started) applied to the green accounting's energy per
slot, through billing.tariff.session_cost, the one place a cost is computed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from billing.tariff import Interval, Tariff, TariffError, parse_tariff, session_cost
from chargepoints.ports import TransactionRecord
from smartgrid.ledger import SLOT, GreenAccounting

if TYPE_CHECKING:
    from gateway.storage import Store

Slots = list[tuple[datetime, float, float]]


@dataclass(slots=True)
class Pricing:
    """The tariffs and stored slots a batch of sessions needs, read in two queries."""

    tariffs: dict[str, Tariff]
    stored: dict[int, Slots]
    ledger: GreenAccounting

    @classmethod
    async def load(cls, store: Store, ledger: GreenAccounting, records: Sequence[TransactionRecord]) -> Pricing:
        wanted = {r.tariff_id for r in records if r.tariff_id}
        tariffs: dict[str, Tariff] = {}
        if wanted:
            for row in await store.accounts.list_tariffs():
                if row["id"] in wanted:
                    try:
                        tariffs[row["id"]] = parse_tariff(row["tariff"], timezone=row["timezone"])
                    except TariffError:  # stored before a stricter check: shown as unknown, not a 500
                        continue
        finished = [r.id for r in records if not r.active and r.tariff_id in tariffs]
        stored = await store.accounts.session_slots(finished) if finished else {}
        return cls(tariffs, stored, ledger)

    def cost(
        self, record: TransactionRecord, energy_wh: float, green_wh: float, now: datetime
    ) -> dict[str, Any] | None:
        """The session's cost so far (running) or in all (stopped); None without a tariff."""
        tariff = self.tariffs.get(record.tariff_id or "")
        if tariff is None:
            return None
        slots = self.ledger.session_slots(record.id) or self.stored.get(record.id) or []
        intervals = [Interval(slot, SLOT.total_seconds(), wh, green) for slot, wh, green in slots]
        # energy the accounting has not split into minutes yet (open minutes; a register beyond it): at the
        # end, green as far as the session's green total says
        rest = energy_wh - sum(i.energy_wh for i in intervals)
        if rest > 0.5:
            rest_green = max(0.0, min(rest, green_wh - sum(i.green_wh for i in intervals)))
            last = intervals[-1].start + SLOT if intervals else record.start_ts
            intervals.append(Interval(min(last, record.stop_ts or now), 60.0, rest, rest_green))
        stopped = record.stop_ts or now
        flowing = [i.start + timedelta(seconds=i.seconds) for i in intervals if i.energy_wh > 0]
        ended = max(flowing, default=record.start_ts)  # then parked, until it stopped
        cost = session_cost(tariff, record.start_ts, stopped, intervals, charging_ended=min(ended, stopped))
        return {"tariff_id": tariff.id, **cost.as_dict()}
