"""Firmware images, file transfers and each charger's firmware and diagnostics timeline in SQL.

chargepoints.ports.FileTimeline, and the queries gateway.files and the REST routes read. The files
themselves are on disk (gateway.files); rows name them by id only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargepoints.file_transfers import FINISHED
from gateway.db import FileStatusRow, FileTransferRow, FirmwareImageRow


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat().replace("+00:00", "Z") if ts else None


def firmware_view(row: FirmwareImageRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "version": row.version,
        "sha256": row.sha256,
        "size_bytes": row.size_bytes,
        "created": _iso(row.created_ts),
        "signed": bool(row.signing_certificate and row.signature),
    }


def _step(row: FileStatusRow) -> dict[str, Any]:
    return {"ts": _iso(row.ts), "action": row.action, "status": row.status, "request_id": row.request_id}


def _transfer(row: FileTransferRow, steps: list[dict[str, Any]]) -> dict[str, Any]:
    last = steps[-1]["status"] if steps else None
    return {
        "id": row.id,
        "kind": row.kind,
        "action": row.action,
        "firmware_id": row.firmware_id,
        "requested": _iso(row.created_ts),
        "url_expires": _iso(row.expires_ts),
        "answer": row.answer,
        "status": last,
        "finished": last in FINISHED.get(row.kind, frozenset()) or row.answer not in (None, "Accepted"),
        "filename": row.filename,
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "received": _iso(row.received_ts),
        "downloads": row.downloads,
        "steps": steps,
    }


class FileRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._session = sessions

    # -- firmware images ------------------------------------------------------------
    async def add_firmware(
        self,
        name: str,
        version: str | None,
        sha256: str,
        size_bytes: int,
        now: datetime,
        signing_certificate: str | None = None,
        signature: str | None = None,
    ) -> dict[str, Any]:
        async with self._session.begin() as session:
            row = FirmwareImageRow(
                name=name,
                version=version,
                sha256=sha256,
                size_bytes=size_bytes,
                created_ts=now,
                signing_certificate=signing_certificate,
                signature=signature,
            )
            session.add(row)
            await session.flush()
            return firmware_view(row)

    async def firmware(self, firmware_id: int) -> FirmwareImageRow | None:
        async with self._session() as session:
            return await session.get(FirmwareImageRow, firmware_id)

    async def firmware_images(self) -> list[dict[str, Any]]:
        async with self._session() as session:
            rows = (await session.scalars(select(FirmwareImageRow).order_by(FirmwareImageRow.id))).all()
        return [firmware_view(row) for row in rows]

    # -- transfers ------------------------------------------------------------------------
    async def create_transfer(
        self,
        charge_point_id: str,
        kind: str,
        action: str,
        now: datetime,
        expires_ts: datetime,
        firmware_id: int | None = None,
    ) -> int:
        """A new transfer; its id (autoincrement, never reused) is the OCPP requestId."""
        async with self._session.begin() as session:
            row = FileTransferRow(
                charge_point_id=charge_point_id,
                kind=kind,
                action=action,
                firmware_id=firmware_id,
                created_ts=now,
                expires_ts=expires_ts,
            )
            session.add(row)
            await session.flush()
            return row.id

    async def answered(self, transfer_id: int, action: str, answer: str, filename: str | None) -> None:
        async with self._session.begin() as session:
            row = await session.get(FileTransferRow, transfer_id)
            if row is not None:
                row.action, row.answer = action, answer
                if filename and row.received_ts is None:
                    row.filename = filename[:255]

    async def transfer_row(self, transfer_id: int) -> FileTransferRow | None:
        async with self._session() as session:
            return await session.get(FileTransferRow, transfer_id)

    async def received(self, transfer_id: int, filename: str, size_bytes: int, sha256: str, now: datetime) -> None:
        async with self._session.begin() as session:
            row = await session.get(FileTransferRow, transfer_id)
            if row is not None:
                row.filename, row.size_bytes, row.sha256, row.received_ts = filename[:255], size_bytes, sha256, now

    async def downloaded(self, transfer_id: int) -> None:
        async with self._session.begin() as session:
            query = update(FileTransferRow).where(FileTransferRow.id == transfer_id)
            await session.execute(query.values(downloads=FileTransferRow.downloads + 1))

    async def transfers(
        self, charge_point_id: str, kind: str, limit: int = 50, transfer_id: int | None = None
    ) -> list[dict[str, Any]]:
        """The charger's latest transfers of `kind` (or the one of `transfer_id`), newest first, each with its
        status steps."""
        query = (
            select(FileTransferRow)
            .where(FileTransferRow.charge_point_id == charge_point_id, FileTransferRow.kind == kind)
            .order_by(FileTransferRow.id.desc())
            .limit(limit)
        )
        if transfer_id is not None:
            query = query.where(FileTransferRow.id == transfer_id)
        async with self._session() as session:
            rows = (await session.scalars(query)).all()
            ids = [row.id for row in rows]
            steps: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
            if ids:
                found = await session.scalars(
                    select(FileStatusRow)
                    .where(FileStatusRow.charge_point_id == charge_point_id, FileStatusRow.request_id.in_(ids))
                    .order_by(FileStatusRow.id)
                )
                for step in found.all():
                    steps[step.request_id or 0].append(_step(step))
        return [_transfer(row, steps[row.id]) for row in rows]

    async def timeline(self, charge_point_id: str, kind: str, limit: int = 200) -> list[dict[str, Any]]:
        """Every step of the charger's timeline of `kind`, oldest first (the newest `limit`)."""
        query = (
            select(FileStatusRow)
            .where(FileStatusRow.charge_point_id == charge_point_id, FileStatusRow.kind == kind)
            .order_by(FileStatusRow.id.desc())
            .limit(limit)
        )
        async with self._session() as session:
            rows = (await session.scalars(query)).all()
        return [_step(row) for row in reversed(rows)]

    # -- chargepoints.ports.FileTimeline -----------------------------------------------------
    async def file_status(
        self, charge_point_id: str, kind: str, action: str, status: str, request_id: int | None, ts: datetime
    ) -> None:
        """A step; without a request id (1.6 without the security extension) it is the charger's latest
        transfer of that kind's, when it has one."""
        async with self._session.begin() as session:
            if request_id is None:
                request_id = await session.scalar(
                    select(FileTransferRow.id)
                    .where(FileTransferRow.charge_point_id == charge_point_id, FileTransferRow.kind == kind)
                    .order_by(FileTransferRow.id.desc())
                    .limit(1)
                )
            session.add(
                FileStatusRow(
                    charge_point_id=charge_point_id,
                    kind=kind,
                    action=action[:48],
                    status=status[:48],
                    request_id=request_id,
                    ts=ts,
                )
            )
