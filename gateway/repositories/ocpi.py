"""OCPI partners, the tokens they gave us, and the queue of calls to them not yet acknowledged, in SQL."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db import OcpiPartnerRow, OcpiPushRow, OcpiTokenRow


def _partner(row: OcpiPartnerRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "state": row.state,
        "token_b": row.token_b,
        "versions_url": row.versions_url,
        "version_url": row.version_url,
        "endpoints": dict(row.endpoints or {}),
        "roles": list(row.roles or []),
        "created": row.created,
        "updated": row.updated,
    }


class OcpiRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._session = sessions

    # -- partners --------------------------------------------------------------------------------------
    async def create_partner(self, partner_id: str, name: str, token_a_sha256: str, now: datetime) -> bool:
        async with self._session.begin() as session:
            if await session.get(OcpiPartnerRow, partner_id) is not None:
                return False
            session.add(OcpiPartnerRow(id=partner_id, name=name, state="pending", token_a_sha256=token_a_sha256,
                                       endpoints={}, roles=[], created=now, updated=now))  # fmt: skip
        return True

    async def partner_by_token(self, digest: str) -> tuple[dict[str, Any], bool] | None:
        """The partner a token (its SHA-256) belongs to, and whether it is its token A."""
        query = select(OcpiPartnerRow).where(
            or_(OcpiPartnerRow.token_a_sha256 == digest, OcpiPartnerRow.token_c_sha256 == digest)
        )
        async with self._session() as session:
            row = (await session.scalars(query)).first()
            return None if row is None else (_partner(row), row.token_a_sha256 == digest)

    async def get_partner(self, partner_id: str) -> dict[str, Any] | None:
        async with self._session() as session:
            row = await session.get(OcpiPartnerRow, partner_id)
            return _partner(row) if row else None

    async def partners(self, state: str | None = None) -> list[dict[str, Any]]:
        query = select(OcpiPartnerRow).order_by(OcpiPartnerRow.id)
        if state is not None:
            query = query.where(OcpiPartnerRow.state == state)
        async with self._session() as session:
            return [_partner(row) for row in (await session.scalars(query)).all()]

    async def registered(self, partner_id: str, registration: dict[str, Any], token_c_sha256: str,
                         now: datetime) -> None:  # fmt: skip
        """The handshake's outcome: token A spent, token C the partner's, its token B and endpoints kept."""
        async with self._session.begin() as session:
            row = await session.get(OcpiPartnerRow, partner_id)
            assert row is not None
            row.state, row.token_a_sha256, row.token_c_sha256 = "registered", None, token_c_sha256
            for key in ("token_b", "versions_url", "version_url", "endpoints", "roles"):
                setattr(row, key, registration[key])
            row.updated = now

    async def unregistered(self, partner_id: str, now: datetime) -> None:
        """Both tokens forgotten; what was queued for it is dropped (it cannot be delivered any more)."""
        async with self._session.begin() as session:
            row = await session.get(OcpiPartnerRow, partner_id)
            if row is None:
                return
            row.state, row.token_a_sha256, row.token_c_sha256, row.token_b = "unregistered", None, None, None
            row.endpoints, row.updated = {}, now
            await session.execute(delete(OcpiPushRow).where(OcpiPushRow.partner_id == partner_id))

    async def delete_partner(self, partner_id: str) -> bool:
        async with self._session.begin() as session:
            row = await session.get(OcpiPartnerRow, partner_id)
            if row is None:
                return False
            await session.delete(row)
            await session.execute(delete(OcpiPushRow).where(OcpiPushRow.partner_id == partner_id))
            await session.execute(delete(OcpiTokenRow).where(OcpiTokenRow.partner_id == partner_id))
            return True

    # -- tokens ------------------------------------------------------------------------------------------
    async def put_token(self, partner_id: str, token: dict[str, Any], last_updated: datetime, *,
                        owns_id_tag: bool) -> bool:  # fmt: skip
        """Create or replace; True when created."""
        key = (partner_id, token["country_code"], token["party_id"], token["uid"], token["type"])
        async with self._session.begin() as session:
            row = await session.get(OcpiTokenRow, key)
            created = row is None
            if row is None:
                row = OcpiTokenRow(partner_id=key[0], country_code=key[1], party_id=key[2], uid=key[3], type=key[4])
                session.add(row)
            row.body, row.last_updated, row.owns_id_tag = token, last_updated, owns_id_tag
        return created

    async def owns_id_tag(self, uid: str) -> bool:
        """Whether the id tag of `uid` was made for a partner's token."""
        query = select(OcpiTokenRow.uid).where(OcpiTokenRow.uid == uid, OcpiTokenRow.owns_id_tag.is_(True))
        async with self._session() as session:
            return (await session.scalars(query)).first() is not None

    async def get_token(self, partner_id: str, country: str, party: str, uid: str, kind: str) -> dict[str, Any] | None:
        async with self._session() as session:
            row = await session.get(OcpiTokenRow, (partner_id, country, party, uid, kind))
            return dict(row.body) if row else None

    async def tokens_of(self, partner_id: str) -> dict[str, dict[str, Any]]:
        """A partner's tokens by uid."""
        query = select(OcpiTokenRow).where(OcpiTokenRow.partner_id == partner_id)
        async with self._session() as session:
            return {row.uid: dict(row.body) for row in (await session.scalars(query)).all()}

    async def token_by_uid(self, uid: str) -> tuple[str, dict[str, Any]] | None:
        """(partner, token) of a uid a charger presents; the newest when two partners share one."""
        query = select(OcpiTokenRow).where(OcpiTokenRow.uid == uid).order_by(OcpiTokenRow.last_updated.desc())
        async with self._session() as session:
            row = (await session.scalars(query)).first()
            return None if row is None else (row.partner_id, dict(row.body))

    # -- the push queue ------------------------------------------------------------------------------------
    async def enqueue(self, partner_id: str, method: str, module: str | None, path: str, body: dict[str, Any],
                      now: datetime) -> None:  # fmt: skip
        async with self._session.begin() as session:
            session.add(OcpiPushRow(partner_id=partner_id, method=method, module=module, path=path, body=body,
                                    created=now, attempts=0, next_ts=now))  # fmt: skip

    async def heads(self) -> list[dict[str, Any]]:
        """The oldest queued call of each partner (each partner's calls go in order)."""
        oldest = select(func.min(OcpiPushRow.id)).group_by(OcpiPushRow.partner_id).scalar_subquery()
        async with self._session() as session:
            rows = (await session.scalars(select(OcpiPushRow).where(OcpiPushRow.id.in_(oldest)))).all()
        return [{"id": row.id, "partner_id": row.partner_id, "method": row.method, "module": row.module,
                 "path": row.path, "body": row.body, "attempts": row.attempts, "next_ts": row.next_ts}
                for row in rows]  # fmt: skip

    async def pending(self, partner_ids: Collection[str] | None = None) -> list[dict[str, Any]]:
        query = select(OcpiPushRow).order_by(OcpiPushRow.id)
        if partner_ids is not None:
            query = query.where(OcpiPushRow.partner_id.in_(sorted(partner_ids)))
        async with self._session() as session:
            rows = (await session.scalars(query)).all()
        return [{"id": r.id, "partner_id": r.partner_id, "method": r.method, "path": r.path, "attempts": r.attempts,
                 "last_error": r.last_error} for r in rows]  # fmt: skip

    async def drop(self, partner_ids: Collection[str]) -> None:
        """Forget what was queued for partners that are no longer registered."""
        async with self._session.begin() as session:
            await session.execute(delete(OcpiPushRow).where(OcpiPushRow.partner_id.in_(sorted(partner_ids))))

    async def acknowledged(self, push_id: int) -> None:
        async with self._session.begin() as session:
            await session.execute(delete(OcpiPushRow).where(OcpiPushRow.id == push_id))

    async def failed(self, push_id: int, error: str, next_ts: datetime) -> None:
        async with self._session.begin() as session:
            row = await session.get(OcpiPushRow, push_id)
            if row is not None:
                row.attempts, row.last_error, row.next_ts = row.attempts + 1, error[:200], next_ts
