"""The file URLs chargers are given: firmware downloads and diagnostics and log uploads.

No bearer token: the URL's own signed token (gateway.file_tokens) is the permission, for one charger,
one request and a limited time; anything else is refused with 403 and nothing served or stored. Uploads
come as real chargers send them: HTTP PUT of the raw file, or POST of multipart/form-data (the first
part that carries a file), optionally with the file name as the last path segment.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, web

from gateway.api.context import api, error
from gateway.api.files import MULTIPART_ERRORS, part_chunks
from gateway.api.table import Route
from gateway.file_tokens import TokenRefused
from gateway.files import CHUNK, TooLarge, safe_name

log = logging.getLogger(__name__)


def _refused(charge_point_id: str, purpose: str, reason: str) -> web.Response:
    log.info("files: a %s URL for %r refused: %s", purpose, charge_point_id[:48], reason)
    return error(403, "Forbidden", "this URL is not valid (expired, or not this charger's)")


async def download_firmware(request: web.Request) -> web.StreamResponse:
    context = api(request)
    charge_point_id = request.match_info["charge_point_id"]
    try:
        grant = context.files.grant(request.match_info["token"], "firmware", charge_point_id)
    except TokenRefused as exc:
        return _refused(charge_point_id, "firmware", str(exc))
    transfer = await context.files.repository.transfer_row(grant.transfer_id)
    image = None
    if transfer is not None and transfer.charge_point_id == charge_point_id and transfer.firmware_id is not None:
        image = await context.files.repository.firmware(transfer.firmware_id)
    if image is None:
        return error(404, "NotFound", "no such firmware image")
    await context.files.repository.downloaded(grant.transfer_id)
    return web.FileResponse(
        context.files.firmware_path(image.sha256),
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{safe_name(image.name, "firmware.bin")}"',
        },
    )


async def _body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    while chunk := await request.content.read(CHUNK):
        yield chunk


async def receive_upload(request: web.Request) -> web.Response:
    context = api(request)
    charge_point_id = request.match_info["charge_point_id"]
    try:
        grant = context.files.grant(request.match_info["token"], "upload", charge_point_id)
    except TokenRefused as exc:
        return _refused(charge_point_id, "upload", str(exc))
    transfer = await context.files.repository.transfer_row(grant.transfer_id)
    if transfer is None or transfer.charge_point_id != charge_point_id:
        return error(404, "NotFound", "no such request")
    default = transfer.filename or f"diagnostics-{transfer.id}.log"
    try:
        if request.content_type.startswith("multipart/"):
            try:
                reader = await request.multipart()
                async for part in reader:
                    if isinstance(part, BodyPartReader) and (part.filename or part.name in ("file", "uploadFile")):
                        name = safe_name(part.filename or request.match_info.get("filename"), default)
                        size = await context.files.receive_upload(transfer.id, name, part_chunks(part))
                        return web.json_response({"received": name, "size_bytes": size}, status=201)
            except MULTIPART_ERRORS:
                return error(422, "InvalidBody", "not a readable multipart/form-data body")
            return error(422, "InvalidBody", "no file in the multipart body")
        name = safe_name(request.match_info.get("filename"), default)
        size = await context.files.receive_upload(transfer.id, name, _body_chunks(request))
    except TooLarge as exc:
        return error(413, "TooLarge", str(exc))
    return web.json_response({"received": name, "size_bytes": size}, status=201)


_BASE = "/files/chargers/{charge_point_id}"
ROUTES: tuple[Route, ...] = (
    Route("get", _BASE + "/firmware/{token}/{name}", "file-firmware", download_firmware,
          "A firmware image, for the charger whose signed URL this is (UpdateFirmware)", public=True,
          media_type="application/octet-stream", errors=(403, 404), tag="files"),
    Route("put", _BASE + "/uploads/{token}", "file-upload-put", receive_upload,
          "A diagnostics or log upload (GetDiagnostics, GetLog): the raw file", public=True, upload=True,
          free_response=True, status=201, errors=(403, 404, 413), tag="files"),
    Route("post", _BASE + "/uploads/{token}", "file-upload-post", receive_upload,
          "A diagnostics or log upload: multipart/form-data", public=True, upload=True, free_response=True,
          status=201, errors=(403, 404, 413, 422), tag="files"),
    Route("put", _BASE + "/uploads/{token}/{filename}", "file-upload-put-named", receive_upload,
          "A diagnostics or log upload under its file name: the raw file", public=True, upload=True,
          free_response=True, status=201, errors=(403, 404, 413), tag="files"),
    Route("post", _BASE + "/uploads/{token}/{filename}", "file-upload-post-named", receive_upload,
          "A diagnostics or log upload under its file name: multipart/form-data", public=True, upload=True,
          free_response=True, status=201, errors=(403, 404, 413, 422), tag="files"),
)  # fmt: skip
