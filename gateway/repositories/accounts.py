"""Charging accounts, tariffs and each finished session's energy per slot, in SQL."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.tariff import TariffChoice, choose_tariff
from gateway.db import AccountRow, CdrRow, ChargerRow, IdTagRow, SessionParkRow, SessionSlotRow, SiteRow, TariffRow


def _account(row: AccountRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "cooperative_id": row.cooperative_id,
        "member_id": row.member_id,
    }


def _tariff(row: TariffRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "cooperative_id": row.cooperative_id,
        "site_id": row.site_id,
        "audience": row.audience,
        "timezone": row.timezone,
        "tariff": row.body,
    }


class AccountRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._session = sessions

    # -- accounts --------------------------------------------------------------------------------------
    async def put_account(self, account: dict[str, Any]) -> bool:
        """Create or replace; True when created."""
        async with self._session.begin() as session:
            row = await session.get(AccountRow, account["id"])
            created = row is None
            if row is None:
                row = AccountRow(id=account["id"])
                session.add(row)
            for key in ("name", "kind", "cooperative_id", "member_id"):
                if key in account:
                    setattr(row, key, account[key])
        return created

    async def get_account(self, account_id: str) -> dict[str, Any] | None:
        async with self._session() as session:
            row = await session.get(AccountRow, account_id)
            if row is None:
                return None
            tags = (await session.scalars(select(IdTagRow.id_tag).where(IdTagRow.account_id == account_id))).all()
            return {**_account(row), "id_tags": sorted(tags)}

    async def list_accounts(self, cooperative_ids: Collection[str] | None = None) -> list[dict[str, Any]]:
        """`cooperative_ids`: only these cooperatives' accounts (a tenant's); None: all."""
        query = select(AccountRow).order_by(AccountRow.id)
        if cooperative_ids is not None:
            query = query.where(AccountRow.cooperative_id.in_(sorted(cooperative_ids)))
        async with self._session() as session:
            return [_account(row) for row in (await session.scalars(query)).all()]

    async def delete_account(self, account_id: str) -> bool:
        """Its id tags stay, owned by no account; its sessions keep naming it."""
        async with self._session.begin() as session:
            row = await session.get(AccountRow, account_id)
            if row is None:
                return False
            for tag in (await session.scalars(select(IdTagRow).where(IdTagRow.account_id == account_id))).all():
                tag.account_id = None
            await session.delete(row)
            return True

    # -- tariffs ---------------------------------------------------------------------------------------------
    async def put_tariff(self, tariff: dict[str, Any]) -> bool:
        async with self._session.begin() as session:
            row = await session.get(TariffRow, tariff["id"])
            created = row is None
            if row is None:
                row = TariffRow(id=tariff["id"])
                session.add(row)
            row.cooperative_id = tariff.get("cooperative_id")
            row.site_id = tariff.get("site_id")
            row.audience = tariff.get("audience", "all")
            row.timezone = tariff.get("timezone", "UTC")
            row.body = tariff["tariff"]
        return created

    async def get_tariff(self, tariff_id: str) -> dict[str, Any] | None:
        async with self._session() as session:
            row = await session.get(TariffRow, tariff_id)
            return _tariff(row) if row else None

    async def guest_tariff_id(self, charge_point_id: str) -> str | None:
        """The tariff a guest (an id token of no account) is priced at on the charger now."""
        async with self._session() as session:
            return await tariff_at(session, charge_point_id, "guest")

    async def list_tariffs(self) -> list[dict[str, Any]]:
        async with self._session() as session:
            return [_tariff(r) for r in (await session.scalars(select(TariffRow).order_by(TariffRow.id))).all()]

    async def delete_tariff(self, tariff_id: str) -> bool:
        """Sessions priced at it keep its id; their cost is shown as unknown from then on."""
        async with self._session.begin() as session:
            row = await session.get(TariffRow, tariff_id)
            if row is None:
                return False
            await session.delete(row)
            return True

    # -- a finished session's energy per slot -------------------------------------------------------------
    async def put_session_slots(
        self,
        transaction_id: int,
        slots: Sequence[tuple[datetime, float, float]],
        parks: Mapping[str, float] | None = None,
    ) -> None:
        """Replace a session's slots, and its green by park, with the accounting's (a late minute may have
        changed one)."""
        async with self._session.begin() as session:
            await session.execute(delete(SessionSlotRow).where(SessionSlotRow.transaction_id == transaction_id))
            session.add_all(
                SessionSlotRow(transaction_id=transaction_id, slot=slot, wh=wh, green_wh=green)
                for slot, wh, green in slots
            )
            if parks is not None:
                await session.execute(delete(SessionParkRow).where(SessionParkRow.transaction_id == transaction_id))
                session.add_all(
                    SessionParkRow(transaction_id=transaction_id, park_id=park, green_wh=wh)
                    for park, wh in parks.items()
                )

    async def session_parks(self, transaction_ids: Collection[int]) -> dict[int, dict[str, float]]:
        """Finished sessions' green energy by park (sessions with none: an empty mapping)."""
        query = select(SessionParkRow).where(SessionParkRow.transaction_id.in_(sorted(transaction_ids)))
        out: dict[int, dict[str, float]] = {i: {} for i in transaction_ids}
        async with self._session() as session:
            for row in (await session.scalars(query)).all():
                out[row.transaction_id][row.park_id] = row.green_wh
        return out

    async def session_slots(self, transaction_ids: Collection[int]) -> dict[int, list[tuple[datetime, float, float]]]:
        query = (
            select(SessionSlotRow)
            .where(SessionSlotRow.transaction_id.in_(sorted(transaction_ids)))
            .order_by(SessionSlotRow.transaction_id, SessionSlotRow.slot)
        )
        out: dict[int, list[tuple[datetime, float, float]]] = {i: [] for i in transaction_ids}
        async with self._session() as session:
            for row in (await session.scalars(query)).all():
                out[row.transaction_id].append((row.slot, row.wh, row.green_wh))
        return out


def _cdr(row: CdrRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "transaction_id": row.transaction_id,
        "account_id": row.account_id,
        "issued_at": row.issued_at,
        "end": row.end_ts,
        "credit": row.credit,
        "credit_reference_id": row.credit_reference_id,
        "superseded": row.superseded,
        "cost": row.cost,
        "cdr": row.body,
    }


class CdrRepository:
    """Charge detail records: added, never changed, except that a credited one is marked superseded."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._session = sessions

    async def versions(self, transaction_id: int) -> int:
        async with self._session() as session:
            query = select(func.count()).select_from(CdrRow).where(CdrRow.transaction_id == transaction_id)
            return int(await session.scalar(query) or 0)

    async def add(self, cdr: dict[str, Any], *, only_first: bool = True) -> bool:
        """Store a CDR; with `only_first`, not when the session has one already (issued by another
        instance, or by this one before a restart). True when stored."""
        async with self._session.begin() as session:
            if only_first:
                query = select(CdrRow.id).where(CdrRow.transaction_id == cdr["transaction_id"])
                if (await session.scalars(query)).first() is not None:
                    return False
            session.add(CdrRow(
                id=cdr["id"], transaction_id=cdr["transaction_id"], account_id=cdr["account_id"],
                issued_at=cdr["issued_at"], end_ts=cdr["end"], credit=cdr.get("credit", False),
                credit_reference_id=cdr.get("credit_reference_id"), cost=cdr["cost"], body=cdr["cdr"],
            ))  # fmt: skip
        return True

    async def get(self, cdr_id: str) -> dict[str, Any] | None:
        async with self._session() as session:
            row = await session.get(CdrRow, cdr_id)
            return _cdr(row) if row else None

    async def supersede(self, cdr_id: str, credit: dict[str, Any], replacement: dict[str, Any] | None) -> None:
        """A correction, in one transaction: the credit CDR, the replacement (if any), the old one superseded."""
        async with self._session.begin() as session:
            row = await session.get(CdrRow, cdr_id)
            assert row is not None
            row.superseded = True
            for cdr in (credit, replacement):
                if cdr is not None:
                    session.add(CdrRow(
                        id=cdr["id"], transaction_id=cdr["transaction_id"], account_id=cdr["account_id"],
                        issued_at=cdr["issued_at"], end_ts=cdr["end"], credit=cdr.get("credit", False),
                        credit_reference_id=cdr.get("credit_reference_id"), cost=cdr["cost"], body=cdr["cdr"],
                    ))  # fmt: skip

    async def current_costs(self, transaction_ids: Collection[int]) -> dict[int, dict[str, Any]]:
        """The cost of each session's standing CDR (neither a credit nor superseded)."""
        query = select(CdrRow.transaction_id, CdrRow.cost).where(
            CdrRow.transaction_id.in_(sorted(transaction_ids)), CdrRow.credit.is_(False), CdrRow.superseded.is_(False)
        )
        async with self._session() as session:
            return {tid: dict(cost) for tid, cost in (await session.execute(query)).all()}

    async def list(
        self,
        *,
        account_id: str | None = None,
        account_ids: Collection[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """By session end, then id; credits included."""
        query = select(CdrRow).order_by(CdrRow.end_ts, CdrRow.id)
        if account_id is not None:
            query = query.where(CdrRow.account_id == account_id)
        if account_ids is not None:
            query = query.where(CdrRow.account_id.in_(sorted(account_ids)))
        if start is not None:
            query = query.where(CdrRow.end_ts >= start)
        if end is not None:
            query = query.where(CdrRow.end_ts < end)
        async with self._session() as session:
            return [_cdr(row) for row in (await session.scalars(query)).all()]


async def billing_of(session: AsyncSession, charge_point_id: str, id_tag: str) -> tuple[str | None, str | None]:
    """(account, tariff) of a session starting now: its id tag's account, and the tariff for that account's
    kind at the charger's site (a session with no account is priced as a guest's)."""
    account_id = await session.scalar(select(IdTagRow.account_id).where(IdTagRow.id_tag == id_tag))
    kind = "guest"
    if account_id is not None:
        kind = await session.scalar(select(AccountRow.kind).where(AccountRow.id == account_id)) or "guest"
    return account_id, await tariff_at(session, charge_point_id, kind)


async def tariff_at(session: AsyncSession, charge_point_id: str, kind: str) -> str | None:
    """The tariff a session of an account of `kind` (member, guest) starting now at the charger is priced at."""
    site_id = await session.scalar(select(ChargerRow.site_id).where(ChargerRow.id == charge_point_id))
    cooperative_id = None
    if site_id is not None:
        cooperative_id = await session.scalar(select(SiteRow.cooperative_id).where(SiteRow.id == site_id))
    rows = (await session.execute(select(TariffRow.id, TariffRow.cooperative_id, TariffRow.site_id,
                                         TariffRow.audience))).all()  # fmt: skip
    choices = [TariffChoice(r[0], r[1], r[2], r[3]) for r in rows]
    return choose_tariff(choices, cooperative_id, site_id, kind)
