"""The files CoopGrid serves chargers and receives from them, on disk, with signed per-charger URLs.

Firmware images are kept under their SHA-256 (`<directory>/firmware/<sha256>`), uploaded diagnostics and
logs under their transfer's id (`<directory>/uploads/<id>`): nothing a charger or an operator sends
names a file. Every write goes through a thread (the event loop never waits on the disk) into a
temporary file renamed once complete, so a cut-off upload leaves nothing half written behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO
from urllib.parse import quote, unquote

from chargepoints.firmware_signatures import load_signing_roots
from gateway.file_tokens import Grant, sign, verify
from gateway.files_settings import FilesSettings
from gateway.repositories.files import FileRepository

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class TooLarge(Exception):
    """More bytes than files.max_upload_bytes."""


def safe_name(name: str | None, default: str) -> str:
    """A file name fit for a URL and a Content-Disposition header: letters, digits, `._-`, at most 64 (a
    percent-encoded name, as some clients send in multipart, decoded first)."""
    cleaned = _UNSAFE.sub("_", unquote(name or "")).strip("._")[:64]
    return cleaned or default


class Files:
    def __init__(
        self,
        settings: FilesSettings,
        directory: Path,
        repository: FileRepository,
        clock: Callable[[], datetime],
        base_url: Callable[[], str],
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.repository = repository
        self._clock = clock
        self._base_url = base_url
        self._secret = settings.secret.encode() if settings.secret else b""
        roots = settings.firmware_signing_roots
        self.signing_roots = load_signing_roots(roots.read_bytes()) if roots is not None else None

    async def open(self) -> None:
        """The directories, and the installation secret (generated once when none is configured)."""
        self._secret = await asyncio.to_thread(self._prepare)

    def _prepare(self) -> bytes:
        for sub in ("firmware", "uploads"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        if self.settings.secret:
            return self.settings.secret.encode()
        path = self.directory / ".secret"
        if not path.exists():
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as out:
                out.write(secrets.token_urlsafe(48))
            log.info("files: a new installation secret for file URLs in %s", path)
        return path.read_text().strip().encode()

    @property
    def base_url(self) -> str:
        return self.settings.public_url or self._base_url()

    # -- URLs ----------------------------------------------------------------------------
    def expiry(self, purpose: str, after: datetime | None = None) -> datetime:
        now = self._clock()
        start = max(now, after) if after is not None else now
        ttl = self.settings.download_ttl_s if purpose == "firmware" else self.settings.upload_ttl_s
        return start + timedelta(seconds=ttl)

    def firmware_url(self, charge_point_id: str, transfer_id: int, expires: datetime, name: str) -> str:
        token = sign(self._secret, "firmware", charge_point_id, transfer_id, int(expires.timestamp()))
        return f"{self.base_url}/files/chargers/{quote(charge_point_id, safe='')}/firmware/{token}/{name}"

    def upload_url(self, charge_point_id: str, transfer_id: int, expires: datetime) -> str:
        token = sign(self._secret, "upload", charge_point_id, transfer_id, int(expires.timestamp()))
        return f"{self.base_url}/files/chargers/{quote(charge_point_id, safe='')}/uploads/{token}"

    def grant(self, token: str, purpose: str, charge_point_id: str) -> Grant:
        """Raises gateway.file_tokens.TokenRefused."""
        return verify(self._secret, token, purpose, charge_point_id, self._clock().timestamp())

    # -- disk ------------------------------------------------------------------------------
    def firmware_path(self, sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError("not a SHA-256")
        return self.directory / "firmware" / sha256

    def upload_path(self, transfer_id: int) -> Path:
        return self.directory / "uploads" / str(int(transfer_id))

    async def _write(self, final: Path, chunks: AsyncIterator[bytes]) -> tuple[int, str]:
        """Stream into a temporary file beside `final`, hashing; renamed to `final` once whole."""
        temporary = final.with_name(f".part-{uuid.uuid4().hex}")
        digest, size = hashlib.sha256(), 0
        out: IO[bytes] = await asyncio.to_thread(temporary.open, "wb")
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.settings.max_upload_bytes:
                    raise TooLarge(f"more than {self.settings.max_upload_bytes} bytes")
                digest.update(chunk)
                await asyncio.to_thread(out.write, chunk)
            await asyncio.to_thread(out.close)
            await asyncio.to_thread(os.replace, temporary, final)
        except BaseException:
            await asyncio.to_thread(out.close)
            await asyncio.to_thread(temporary.unlink, missing_ok=True)
            raise
        return size, digest.hexdigest()

    async def discard_image(self, sha256: str) -> None:
        """An image refused at upload: its file goes, unless a stored image is the same file."""
        if not any(image["sha256"] == sha256 for image in await self.repository.firmware_images()):
            await asyncio.to_thread(self.firmware_path(sha256).unlink, missing_ok=True)

    async def store_image(self, chunks: AsyncIterator[bytes]) -> tuple[int, str]:
        """A firmware image onto disk: (size, SHA-256); the same image twice is one file."""
        staging = self.directory / "firmware" / f"incoming-{uuid.uuid4().hex}"
        size, sha256 = await self._write(staging, chunks)
        await asyncio.to_thread(os.replace, staging, self.firmware_path(sha256))
        return size, sha256

    async def receive_upload(self, transfer_id: int, filename: str, chunks: AsyncIterator[bytes]) -> int:
        size, sha256 = await self._write(self.upload_path(transfer_id), chunks)
        await self.repository.received(transfer_id, filename, size, sha256, self._clock())
        log.info("files: transfer %d received %s (%d bytes)", transfer_id, filename, size)
        return size
