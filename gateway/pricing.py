"""What sessions cost: their tariff (chosen when they started) applied to the green accounting's energy per
slot, through billing.tariff.session_cost, the one place a cost is computed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from billing.cdr import SessionFacts, build_cdr, credit_of
from billing.tariff import Cost, Interval, Tariff, TariffError, parse_tariff, session_cost
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
    issued: dict[int, dict[str, Any]] = field(default_factory=dict)  # a finished session's CDR cost

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
        issued = await store.cdrs.current_costs(finished) if finished else {}
        return cls(tariffs, stored, ledger, issued)

    def cost(
        self, record: TransactionRecord, energy_wh: float, green_wh: float, now: datetime
    ) -> dict[str, Any] | None:
        """The session's cost so far (running), in all (stopped), or as its CDR says once issued; None
        without a tariff."""
        issued = self.issued.get(record.id)
        if issued is not None:
            return issued
        tariff = self.tariffs.get(record.tariff_id or "")
        if tariff is None:
            return None
        cost, _ = price(tariff, record, self.slots(record), energy_wh, green_wh, now)
        return {"tariff_id": tariff.id, **cost.as_dict()}

    def slots(self, record: TransactionRecord) -> Slots:
        return self.ledger.session_slots(record.id) or self.stored.get(record.id) or []

    def settled(self, record: TransactionRecord, energy_wh: float, now: datetime) -> bool:
        """Whether the cost can no longer change: it has its CDR, or whatever the green accounting finds green
        of the energy it has not split yet, the total stays the same (no sun then, or one price for both)."""
        if record.id in self.issued or not self.ledger.may_turn_green(record.id):
            return True
        tariff = self.tariffs.get(record.tariff_id or "")
        if tariff is None:
            return False
        slots = self.slots(record)
        known_green = sum(green for _, _, green in slots)
        grid, _ = price(tariff, record, slots, energy_wh, known_green, now)
        green, _ = price(tariff, record, slots, energy_wh, energy_wh, now)
        return grid.incl_vat == green.incl_vat


def metered_energy_wh(record: TransactionRecord, ledger: GreenAccounting, source: str) -> float:
    """A session's energy: its register's, or what the accounting integrated when its charger reports none."""
    if source == "power":
        return max(record.energy_wh, ledger.session_energy_wh(record.id) or 0.0)
    return record.energy_wh


def price(
    tariff: Tariff, record: TransactionRecord, slots: Slots, energy_wh: float, green_wh: float, now: datetime
) -> tuple[Cost, list[Interval]]:
    """The one way a session is priced: its slots as intervals, what the accounting has not split yet at the
    end (green as far as the session's green total says), then billing.tariff.session_cost."""
    intervals = [Interval(slot, SLOT.total_seconds(), wh, green) for slot, wh, green in slots]
    rest = energy_wh - sum(i.energy_wh for i in intervals)
    if rest > 0.5:
        rest_green = max(0.0, min(rest, green_wh - sum(i.green_wh for i in intervals)))
        last = intervals[-1].start + SLOT if intervals else record.start_ts
        intervals.append(Interval(min(last, record.stop_ts or now), 60.0, rest, rest_green))
    stopped = record.stop_ts or now
    flowing = [i.start + timedelta(seconds=i.seconds) for i in intervals if i.energy_wh > 0]
    ended = max(flowing, default=record.start_ts)  # then parked, until it stopped
    return session_cost(tariff, record.start_ts, stopped, intervals, charging_ended=min(ended, stopped)), intervals


async def issue_cdr(
    store: Store, transaction_id: int, *, party: tuple[str, str], now: datetime, correcting: str | None = None
) -> dict[str, Any] | None:
    """Issue the CDR of a finished session at its tariff; None when it has none, runs, or (unless this is a
    correction of CDR `correcting`) has a CDR already."""
    record = await store.get_transaction(transaction_id)
    if record is None or record.active or record.stop_ts is None or record.tariff_id is None:
        return None
    row = await store.accounts.get_tariff(record.tariff_id)
    if row is None:
        return None
    tariff = parse_tariff(row["tariff"], timezone=row["timezone"])
    slots = (await store.accounts.session_slots([transaction_id]))[transaction_id]
    green = record.green_energy_wh or 0.0
    cost, intervals = price(tariff, record, slots, record.energy_wh, green, now)
    charger = await store.get_charger(record.charge_point_id)
    facts = SessionFacts(
        session_id=str(record.api_id),
        charge_point_id=record.charge_point_id,
        connector_id=record.connector_id,
        site_id=charger.site_id if charger else None,
        id_tag=record.id_tag,
        account_id=record.account_id,
        start=record.start_ts,
        stop=record.stop_ts,
        energy_wh=record.energy_wh,
        green_wh=green,
    )
    version = await store.cdrs.versions(transaction_id) + 1
    cdr_id = f"CG{transaction_id}-{version}"
    body = build_cdr(cdr_id, facts, intervals, cost, row["tariff"], party=party, issued=now)
    cdr = {
        "id": cdr_id, "transaction_id": transaction_id, "account_id": record.account_id, "issued_at": now,
        "end": record.stop_ts, "cost": {"tariff_id": tariff.id, "cdr_id": cdr_id, **cost.as_dict()}, "cdr": body,
    }  # fmt: skip
    if correcting is not None:
        return cdr
    return cdr if await store.cdrs.add(cdr) else None


async def correct_cdr(
    store: Store, cdr_id: str, *, party: tuple[str, str], now: datetime, reissue: bool
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A credit CDR cancelling `cdr_id` and, with `reissue`, a new CDR for its session at its tariff as it
    stands now. Raises LookupError (no such CDR) or ValueError (a credit, or superseded already)."""
    old = await store.cdrs.get(cdr_id)
    if old is None:
        raise LookupError(cdr_id)
    if old["credit"] or old["superseded"]:
        raise ValueError(f"CDR {cdr_id} is a credit or was corrected already")
    version = await store.cdrs.versions(old["transaction_id"]) + 1
    credit_id = f"CG{old['transaction_id']}-{version}C"
    negated = {k: (f"-{v}" if k not in ("currency", "tariff_id", "cdr_id") and not str(v).startswith("-") else v)
               for k, v in old["cost"].items()}  # fmt: skip
    credit = {
        "id": credit_id, "transaction_id": old["transaction_id"], "account_id": old["account_id"],
        "issued_at": now, "end": old["end"], "credit": True, "credit_reference_id": cdr_id,
        "cost": {**negated, "cdr_id": credit_id}, "cdr": credit_of(old["cdr"], credit_id, now),
    }  # fmt: skip
    replacement = None
    if reissue:
        replacement = await issue_cdr(store, old["transaction_id"], party=party, now=now, correcting=cdr_id)
        if replacement is not None:  # numbered after the credit
            number = version + 1
            new_id = f"CG{old['transaction_id']}-{number}"
            replacement = {**replacement, "id": new_id, "cost": {**replacement["cost"], "cdr_id": new_id},
                           "cdr": {**replacement["cdr"], "id": new_id}}  # fmt: skip
    await store.cdrs.supersede(cdr_id, credit, replacement)
    return credit, replacement
