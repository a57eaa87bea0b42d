"""What a simulated charger does with a firmware update or a log request: the file really fetched from
the URL it was given and the log really uploaded there, over HTTP, with the status notifications a
real charger sends between the steps.

Black box: aiohttp's client and the `ocpp` library only, nothing of the server. Uploads are sent as
chargers send them: a 1.6 charger POSTs multipart/form-data, a 2.0.1 station PUTs the raw file under its
name (both ways the server takes).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

TIMEOUT = aiohttp.ClientTimeout(total=30)
FIRMWARE_FLOWS = ("FirmwareUpdate", "SignedFirmwareUpdate")
LOG_FLOWS = ("DiagnosticsUpload", "LogUpload")


async def download(url: str) -> bytes | None:
    """The body of a GET of `url` (None: refused or unreachable)."""
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.get(url) as response:
            if response.status != 200:
                log.info("firmware download refused: HTTP %d", response.status)
                return None
            return await response.read()
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.info("firmware download failed: %s", exc)
        return None


async def upload(url: str, filename: str, content: bytes, *, multipart: bool) -> bool:
    """Upload `content` to `url`: POST multipart/form-data, or PUT the raw bytes under `filename`."""
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            if multipart:
                form = aiohttp.FormData()
                form.add_field("file", content, filename=filename, content_type="text/plain")
                request = http.post(url, data=form)
            else:
                request = http.put(f"{url}/{filename}", data=content)
            async with request as response:
                if response.status not in (200, 201, 204):
                    log.info("log upload refused: HTTP %d", response.status)
                    return False
                return True
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.info("log upload failed: %s", exc)
        return False


class FileTransfers:
    """Part of a simulated charge point: the firmware and log flows, run from its trigger loop."""

    upload_multipart = True  # 1.6 chargers POST multipart; the 2.0.1 station overrides

    def _start_files(self) -> None:
        self.locations: dict[str, str] = {}  # flow (with its request id) -> the URL it was given
        self.firmware_images: list[bytes] = []  # every image downloaded, in order
        self.installed_sha256: str | None = None
        self.uploads: list[str] = []  # names of the files uploaded

    def log_content(self) -> bytes:
        """What the simulated charger has to upload: its identity and what it sent."""
        sent = getattr(self, "sent", {})
        lines = [f"charger {getattr(self, 'id', '?')} firmware {getattr(self, 'firmware_version', '?')}"]
        lines += [f"{action} {count}" for action, count in sorted(sent.items())]
        return ("\n".join(lines) + "\n").encode()

    # the simulated charge point's: the version's notification of a flow step, and one call to the CSMS
    _file_notification: Callable[[str, str, int | None], Any]
    _call: Callable[[Any, Any], Awaitable[Any]]

    async def _file_flow(self, client: Any, flow: str) -> None:
        name, _, request = flow.partition(":")
        request_id = int(request) if request else None
        location = self.locations.pop(flow, "")

        async def step(status: str) -> None:
            await asyncio.sleep(0.05)
            await self._call(client, self._file_notification(name, status, request_id))

        if name in FIRMWARE_FLOWS:
            await step("Downloading")
            image = await download(location)
            if image is None:
                await step("DownloadFailed")
                return
            self.firmware_images.append(image)
            await step("Downloaded")
            if name == "SignedFirmwareUpdate":
                await step("SignatureVerified")
            await step("Installing")
            self.installed_sha256 = hashlib.sha256(image).hexdigest()
            await step("Installed")
        elif name in LOG_FLOWS:
            await step("Uploading")
            filename = "diagnostics.log" if name == "DiagnosticsUpload" else f"log-{request_id}.log"
            if await upload(location, filename, self.log_content(), multipart=self.upload_multipart):
                self.uploads.append(filename)
                await step("Uploaded")
            else:
                await step("UploadFailed" if name == "DiagnosticsUpload" else "UploadFailure")
