"""Chargers and sites in SQL: registry records, credentials (cached for reconnect storms), the scheduler's specs."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from chargepoints.ports import ChargerRecord
from gateway.db import (
    ChargerRow,
    SiteRow,
)
from gateway.repositories.base import SqlBase


def _charger(row: ChargerRow) -> ChargerRecord:
    return ChargerRecord(
        id=row.id,
        registration=row.registration,
        ocpp_version=row.ocpp_version,
        vendor=row.vendor,
        model=row.model,
        serial_number=row.serial_number,
        firmware_version=row.firmware_version,
        site_id=row.site_id,
        last_seen=row.last_seen,
    )


SITE_FIELDS = ("name", "cooperative_id", "grid_limit_a", "base_load_a", "voltage_v")


def _site(row: SiteRow) -> dict[str, Any]:
    return {"id": row.id, **{name: getattr(row, name) for name in SITE_FIELDS}}


class ChargerStore(SqlBase):
    _credentials: dict[str, tuple[tuple[int, str | None] | None, float]]
    _all_loaded_at: float
    _next_passwords: dict[str, str]
    _next_profiles: dict[str, int]

    # -- chargers ---------------------------------------------------------------
    async def get_charger(self, charge_point_id: str) -> ChargerRecord | None:
        async with self._session() as session:
            row = await session.get(ChargerRow, charge_point_id)
            return _charger(row) if row else None

    async def save_charger(self, record: ChargerRecord) -> None:
        await self.save_chargers([record])

    async def save_chargers(self, records: list[ChargerRecord]) -> None:
        """Upsert many records in one statement (a reconnect storm flushes thousands at once)."""
        if not records:
            return
        now = time.monotonic()
        for record in records:  # newly stored chargers are no longer "unknown" (profile 0 until set)
            cached = self._credentials.get(record.id)
            if cached is None or cached[0] is None:
                self._credentials[record.id] = ((0, None), now)
        rows = [
            {
                "id": r.id,
                "registration": r.registration,
                "ocpp_version": r.ocpp_version,
                "vendor": r.vendor,
                "model": r.model,
                "serial_number": r.serial_number,
                "firmware_version": r.firmware_version,
                "site_id": r.site_id,
                "last_seen": r.last_seen,
            }
            for r in records
        ]
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        statement = insert(ChargerRow)
        updated = {c: getattr(statement.excluded, c) for c in rows[0] if c != "id"}
        statement = statement.on_conflict_do_update(index_elements=[ChargerRow.id], set_=updated)
        async with self.engine.begin() as connection:
            for start in range(0, len(rows), 500):
                await connection.execute(statement, rows[start : start + 500])

    async def set_credentials(self, charge_point_id: str, security_profile: int, password_hash: str | None) -> None:
        """Set the profile and password (an operator's word: a rotation underway is forgotten)."""
        self._credentials[charge_point_id] = ((security_profile, password_hash), time.monotonic())
        self._next_passwords.pop(charge_point_id, None)
        self._next_profiles.pop(charge_point_id, None)
        async with self._session.begin() as session:
            row = await session.get(ChargerRow, charge_point_id)
            if row is None:
                row = ChargerRow(id=charge_point_id, registration="Accepted")
                session.add(row)
            row.security_profile = security_profile
            row.password_hash = password_hash
            row.next_password_hash = None
            row.next_security_profile = None

    # -- password rotation: the old password and the new one both open until the charger uses the new ------
    async def set_next_password(self, charge_point_id: str, password_hash: str) -> None:
        """The charger accepted a new password: taken as well as the current one from now on."""
        async with self._session.begin() as session:
            row = await session.get(ChargerRow, charge_point_id)
            if row is None:
                return
            row.next_password_hash = password_hash
        self._next_passwords[charge_point_id] = password_hash

    async def next_password_hash(self, charge_point_id: str) -> str | None:
        await self.get_credentials(charge_point_id)  # read with the credentials when not in memory
        return self._next_passwords.get(charge_point_id)

    async def promote_next_password(self, charge_point_id: str) -> None:
        """The charger connected with its new password: the new one is now the only one."""
        new = self._next_passwords.pop(charge_point_id, None)
        if new is None:
            return
        async with self._session.begin() as session:
            row = await session.get(ChargerRow, charge_point_id)
            if row is None:
                return
            row.password_hash, row.next_password_hash = new, None
            self._credentials[charge_point_id] = ((row.security_profile, new), time.monotonic())

    # -- security-profile upgrades: the current profile and the new one both open until the charger uses the new
    async def set_next_security_profile(self, charge_point_id: str, profile: int) -> None:
        """The charger accepted a higher security profile: taken as well as the current one from now on."""
        async with self._session.begin() as session:
            row = await session.get(ChargerRow, charge_point_id)
            if row is None:
                return
            row.next_security_profile = profile
        self._next_profiles[charge_point_id] = profile

    async def next_security_profile(self, charge_point_id: str) -> int | None:
        await self.get_credentials(charge_point_id)  # read with the credentials when not in memory
        return self._next_profiles.get(charge_point_id)

    async def promote_security_profile(self, charge_point_id: str) -> int | None:
        """The charger connected with its new profile: it is now the only one (and its old is refused)."""
        async with self._session.begin() as session:
            row = await session.get(ChargerRow, charge_point_id)
            self._next_profiles.pop(charge_point_id, None)
            if row is None or row.next_security_profile is None:
                return None
            row.security_profile, row.next_security_profile = row.next_security_profile, None
            self._credentials[charge_point_id] = ((row.security_profile, row.password_hash), time.monotonic())
            return row.security_profile

    async def get_credentials(self, charge_point_id: str) -> tuple[int, str | None] | None:
        """(security profile, password hash) of a registered charger, None when unknown.

        Asked before every WebSocket upgrade: answered from memory once read, so a
        reconnect storm does not queue on the database. Changes made through this
        store update the cache; unknown ids are asked again after a minute.
        """
        cached = self._credentials.get(charge_point_id)
        now = time.monotonic()
        if cached is not None and (cached[0] is not None or now - cached[1] < 60.0):
            return cached[0]
        if cached is None and now - self._all_loaded_at < 60.0:
            return None  # not among the chargers loaded a moment ago: unknown
        async with self._session() as session:
            row = await session.get(ChargerRow, charge_point_id)
            value = (row.security_profile, row.password_hash) if row else None
            if row is not None and row.next_password_hash:
                self._next_passwords[charge_point_id] = row.next_password_hash
            else:
                self._next_passwords.pop(charge_point_id, None)
            if row is not None and row.next_security_profile is not None:
                self._next_profiles[charge_point_id] = row.next_security_profile
            else:
                self._next_profiles.pop(charge_point_id, None)
        self._credentials[charge_point_id] = (value, now)
        return value

    async def load_chargers(self) -> list[ChargerRecord]:
        """Every charger record, in one query; also refreshes the credentials cache."""
        async with self._session() as session:
            rows = (await session.scalars(select(ChargerRow))).all()
        now = time.monotonic()
        self._credentials = {row.id: ((row.security_profile, row.password_hash), now) for row in rows}
        self._next_passwords = {row.id: row.next_password_hash for row in rows if row.next_password_hash}
        self._next_profiles = {r.id: r.next_security_profile for r in rows if r.next_security_profile is not None}
        self._all_loaded_at = now
        return [_charger(row) for row in rows]

    async def list_chargers(self) -> list[ChargerRecord]:
        async with self._session() as session:
            rows = (await session.scalars(select(ChargerRow).order_by(ChargerRow.id))).all()
            return [_charger(row) for row in rows]

    # -- the scheduler's world: sites, chargers' specs, sessions' modes ------------------------------
    async def list_sites(self) -> list[dict[str, Any]]:
        async with self._session() as session:
            rows = (await session.scalars(select(SiteRow).order_by(SiteRow.id))).all()
        return [_site(row) for row in rows]

    async def get_site(self, site_id: str) -> dict[str, Any] | None:
        async with self._session() as session:
            row = await session.get(SiteRow, site_id)
            return _site(row) if row else None

    async def put_site(self, site: dict[str, Any]) -> bool:
        """Create or change a site (keys: id and any of SITE_FIELDS); True when it was created.

        One upsert: instances seeding the same configuration at the same moment do not collide.
        """
        existed = await self.get_site(site["id"]) is not None
        given = {name: site[name] for name in SITE_FIELDS if name in site}
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        values = {"name": "", "base_load_a": 0.0, "voltage_v": 230.0, "grid_limit_a": 63.0, **given}
        statement = insert(SiteRow).values(id=site["id"], **values)
        if given:
            statement = statement.on_conflict_do_update(index_elements=[SiteRow.id], set_=given)
        else:
            statement = statement.on_conflict_do_nothing(index_elements=[SiteRow.id])
        async with self.engine.begin() as connection:
            await connection.execute(statement)
        return not existed

    async def delete_site(self, site_id: str) -> bool:
        """Delete a site; its chargers are no longer at any site (not scheduled until placed again)."""
        async with self._session.begin() as session:
            row = await session.get(SiteRow, site_id)
            if row is None:
                return False
            await session.delete(row)
            await session.execute(update(ChargerRow).where(ChargerRow.site_id == site_id).values(site_id=None))
        return True

    async def set_charger_spec(
        self, charge_point_id: str, *, phases: int, min_current_a: float, max_current_a: float, phase_switching: bool
    ) -> None:
        async with self._session.begin() as session:
            row = await session.get(ChargerRow, charge_point_id)
            if row is None:
                row = ChargerRow(id=charge_point_id, registration="Accepted")
                session.add(row)
            row.phases, row.min_current_a, row.max_current_a = phases, min_current_a, max_current_a
            row.phase_switching = phase_switching

    async def set_charger_site(self, charge_point_id: str, site_id: str | None) -> None:
        async with self._session.begin() as session:
            await session.execute(update(ChargerRow).where(ChargerRow.id == charge_point_id).values(site_id=site_id))

    async def charger_specs(self) -> dict[str, dict[str, Any]]:
        """Every charger at a site: its site, phases, current range and phase switching."""
        columns = (
            ChargerRow.id,
            ChargerRow.site_id,
            ChargerRow.phases,
            ChargerRow.min_current_a,
            ChargerRow.max_current_a,
            ChargerRow.phase_switching,
        )
        async with self._session() as session:
            rows = (await session.execute(select(*columns).where(ChargerRow.site_id.is_not(None)))).all()
        return {
            r.id: {
                "site_id": r.site_id,
                "phases": r.phases or 3,
                "min_current_a": r.min_current_a if r.min_current_a is not None else 6.0,
                "max_current_a": r.max_current_a if r.max_current_a is not None else 16.0,
                "phase_switching": bool(r.phase_switching),
            }
            for r in rows
        }
