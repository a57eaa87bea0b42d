"""Firmware and diagnostics: images uploaded, updates and log uploads asked of chargers, their timelines.

The URLs chargers are given are CoopGrid's own (gateway.api.file_server serves them), signed for one
charger and one request, and time-limited (gateway.files).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from chargepoints.file_transfers import DIAGNOSTICS, FIRMWARE, FileRequestError, answer_status, get_log, update_firmware
from chargepoints.firmware_signatures import SignatureRefused, check_firmware_signature
from gateway.api.access import tenancy
from gateway.api.chargers import commanding
from gateway.api.context import Api, api, error
from gateway.api.file_models import (
    FileTimelineView,
    FileTransferView,
    FirmwareUpdateBody,
    FirmwareView,
    LogRequestBody,
)
from gateway.api.params import read_body, unprocessable
from gateway.api.reservations import _version
from gateway.api.table import COOPERATIVE, Route, Scope
from gateway.files import CHUNK, TooLarge, safe_name

# what aiohttp raises for a body that is not multipart as it says (no boundary, a broken part header)
MULTIPART_ERRORS = (ValueError, AssertionError, HttpProcessingError)
MAX_FIELD = 6000  # a text field of the upload form (a signing certificate is at most 5500 characters)


async def part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


async def _text_field(part: BodyPartReader) -> str:
    """A text field of the form, read no further than MAX_FIELD bytes."""
    data = b""
    while len(data) <= MAX_FIELD and (chunk := await part.read_chunk(CHUNK)):
        data += chunk
    if len(data) > MAX_FIELD:
        raise unprocessable("InvalidBody", f"{part.name}: too long")
    return data.decode("utf-8", "replace").strip()


async def upload_firmware(request: web.Request) -> web.Response:
    """multipart/form-data: `file` (the image), optional `version`, `signing_certificate`, `signature`."""
    context = api(request)
    if not request.content_type.startswith("multipart/"):
        raise unprocessable("InvalidBody", "multipart/form-data with a `file` field expected")
    fields: dict[str, str] = {}
    stored: tuple[str, int, str] | None = None  # name, size, SHA-256
    try:
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.name == "file" and stored is None:
                name = safe_name(part.filename, "firmware.bin")
                try:
                    size, sha256 = await context.files.store_image(part_chunks(part))
                except TooLarge as exc:
                    return error(413, "TooLarge", str(exc))
                stored = name, size, sha256
            elif part.name in ("version", "signing_certificate", "signature"):
                fields[part.name] = await _text_field(part)
    except MULTIPART_ERRORS:
        raise unprocessable("InvalidBody", "not a readable multipart/form-data body") from None
    if stored is None:
        raise unprocessable("InvalidBody", "file: the firmware image is missing")
    version = fields.get("version") or None
    if version is not None and len(version) > 64:
        raise unprocessable("InvalidBody", "version: at most 64 characters")
    certificate, signature = fields.get("signing_certificate") or None, fields.get("signature") or None
    if certificate is not None and len(certificate) > 5500 or signature is not None and len(signature) > 800:
        raise unprocessable("InvalidBody", "signing_certificate: at most 5500 characters, signature: 800")
    name, size, sha256 = stored
    if (certificate is None) != (signature is None):
        await context.files.discard_image(sha256)
        missing = "signature" if signature is None else "signing_certificate"
        raise unprocessable("InvalidBody", f"{missing}: a signed image needs both signing_certificate and signature")
    if certificate is not None and signature is not None and context.files.settings.verify_firmware_signatures:
        try:
            check_firmware_signature(
                bytes.fromhex(sha256), certificate, signature, roots=context.files.signing_roots, now=context.clock()
            )
        except SignatureRefused as refused:
            await context.files.discard_image(sha256)
            raise unprocessable(refused.code, str(refused)) from None
    saved = await context.files.repository.add_firmware(
        name, version, sha256, size, context.clock(), certificate, signature
    )
    return web.json_response(saved, status=201)


async def list_firmware(request: web.Request) -> web.Response:
    return web.json_response(await api(request).files.repository.firmware_images())


def _charger(request: web.Request, *, owned: bool = False) -> str:
    """The charger of the path; 404 when unknown (or, for `owned`, not the token's cooperative's)."""
    context = api(request)
    charge_point_id = request.match_info["charge_point_id"]
    known = context.central.knows(charge_point_id)
    if not known or (owned and not tenancy(request).owned_charger(context.central.state(charge_point_id).site_id)):
        message = {"error": {"code": "NotFound", "message": f"no charge point {charge_point_id!r}"}}
        raise web.HTTPNotFound(text=json.dumps(message), content_type="application/json")
    return charge_point_id


def _utc(ts: datetime | None) -> datetime | None:
    return None if ts is None else ts if ts.tzinfo else ts.replace(tzinfo=UTC)


async def _send(
    context: Api, charge_point_id: str, transfer_id: int, action: str, payload: dict[str, Any]
) -> web.Response:
    answer = await commanding(charge_point_id, context.cluster.call(charge_point_id, action, payload))
    if isinstance(answer, web.Response):
        await context.files.repository.answered(transfer_id, action, "Failed", None)
        return answer
    status, filename = answer_status(action, answer)
    await context.files.repository.answered(transfer_id, action, status, filename)
    row = await context.files.repository.transfer_row(transfer_id)
    assert row is not None
    [view] = await context.files.repository.transfers(charge_point_id, row.kind, transfer_id=transfer_id)
    return web.json_response({**_with_file_url(charge_point_id, view), "charger_answer": answer}, status=201)


async def update_charger_firmware(request: web.Request) -> web.Response:
    """UpdateFirmware (1.6, 2.0.1) or SignedUpdateFirmware (1.6 security extension) with a URL of ours."""
    context = api(request)
    charge_point_id = _charger(request)
    body = await read_body(request, FirmwareUpdateBody)
    image = await context.files.repository.firmware(body.firmware_id)
    if image is None:
        raise unprocessable("UnknownFirmware", f"firmware_id: no firmware image {body.firmware_id}")
    retrieve = _utc(body.retrieve_date) or context.clock()
    expires = context.files.expiry("firmware", retrieve)
    transfer_id = await context.files.repository.create_transfer(
        charge_point_id, FIRMWARE, "UpdateFirmware", context.clock(), expires, firmware_id=image.id
    )
    url = context.files.firmware_url(charge_point_id, transfer_id, expires, image.name)
    try:
        action, payload = update_firmware(
            _version(context, charge_point_id),
            url,
            retrieve,
            request_id=transfer_id,
            signed=body.signed,
            install_ts=_utc(body.install_date),
            signing_certificate=image.signing_certificate,
            signature=image.signature,
            retries=body.retries,
            retry_interval_s=body.retry_interval_s,
        )
    except FileRequestError as exc:
        await context.files.repository.answered(transfer_id, "SignedUpdateFirmware", "NotSent", None)
        raise unprocessable("InvalidBody", str(exc)) from None
    return await _send(context, charge_point_id, transfer_id, action, payload)


async def request_log(request: web.Request) -> web.Response:
    """GetDiagnostics (1.6) or GetLog (1.6 security extension, 2.0.1) with an upload URL of ours."""
    context = api(request)
    charge_point_id = _charger(request)
    body = await read_body(request, LogRequestBody)
    expires = context.files.expiry("upload")
    transfer_id = await context.files.repository.create_transfer(
        charge_point_id, DIAGNOSTICS, "GetLog", context.clock(), expires
    )
    action, payload = get_log(
        _version(context, charge_point_id),
        context.files.upload_url(charge_point_id, transfer_id, expires),
        request_id=transfer_id,
        log_type=body.log_type,
        oldest_ts=_utc(body.oldest),
        latest_ts=_utc(body.latest),
        retries=body.retries,
        retry_interval_s=body.retry_interval_s,
    )
    return await _send(context, charge_point_id, transfer_id, action, payload)


def _with_file_url(charge_point_id: str, view: dict[str, Any]) -> dict[str, Any]:
    if view["kind"] == DIAGNOSTICS and view["received"]:
        return {**view, "file_url": f"/api/chargepoints/{charge_point_id}/diagnostics/{view['id']}/file"}
    return {**view, "file_url": None}


async def _timeline(request: web.Request, kind: str) -> web.Response:
    context = api(request)
    charge_point_id = _charger(request, owned=True)
    record = await context.store.get_charger(charge_point_id)
    transfers = await context.files.repository.transfers(charge_point_id, kind)
    return web.json_response(
        {
            "charge_point_id": charge_point_id,
            "firmware_version": record.firmware_version if record else None,
            "transfers": [_with_file_url(charge_point_id, v) for v in transfers],
            "timeline": await context.files.repository.timeline(charge_point_id, kind),
        }
    )


async def firmware_timeline(request: web.Request) -> web.Response:
    return await _timeline(request, FIRMWARE)


async def diagnostics_timeline(request: web.Request) -> web.Response:
    return await _timeline(request, DIAGNOSTICS)


async def diagnostics_file(request: web.Request) -> web.StreamResponse:
    """A diagnostics or log file the charger uploaded, as an attachment."""
    context = api(request)
    charge_point_id = _charger(request, owned=True)
    text = request.match_info["transfer_id"]
    if not text.isascii() or not text.isdecimal() or int(text) >= 2**31:
        raise unprocessable("InvalidId", "transfer_id: an integer")
    row = await context.files.repository.transfer_row(int(text))
    if row is None or row.charge_point_id != charge_point_id or row.received_ts is None:
        return error(404, "NotFound", "no file received for this request")
    name = safe_name(row.filename, f"diagnostics-{row.id}.log")
    return web.FileResponse(
        context.files.upload_path(row.id),
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Content-Type": "application/octet-stream"},
    )


ROUTES: tuple[Route, ...] = (
    Route("post", "/api/firmware", "firmware-upload", upload_firmware,
          "Upload a firmware image (multipart/form-data: file, optional version, signing_certificate, signature); "
          "stored with its SHA-256", upload=True, response=FirmwareView, status=201, errors=(413, 422),
          tag="firmware"),
    Route("get", "/api/firmware", "firmware-images", list_firmware, "The uploaded firmware images",
          response=FirmwareView, many=True, tag="firmware"),
    Route("post", "/api/chargepoints/{charge_point_id}/firmware", "firmware-update", update_charger_firmware,
          "Have the charger install an uploaded image: UpdateFirmware (SignedUpdateFirmware for signed 1.6) with "
          "a signed, time-limited URL of this server", body=FirmwareUpdateBody, response=FileTransferView,
          status=201, errors=(404, 409, 422, 502, 504), tag="firmware"),
    Route("get", "/api/chargepoints/{charge_point_id}/firmware", "firmware-timeline", firmware_timeline,
          "The charger's firmware updates and status timeline (FirmwareStatusNotification)",
          roles=COOPERATIVE, scope=Scope.CHARGER, response=FileTimelineView, errors=(404,), tag="firmware"),
    Route("post", "/api/chargepoints/{charge_point_id}/diagnostics", "diagnostics-request", request_log,
          "Have the charger upload its diagnostics or a log (GetDiagnostics, GetLog) to a signed, time-limited "
          "URL of this server", body=LogRequestBody, response=FileTransferView, status=201,
          errors=(404, 409, 422, 502, 504), tag="firmware"),
    Route("get", "/api/chargepoints/{charge_point_id}/diagnostics", "diagnostics-timeline", diagnostics_timeline,
          "The charger's diagnostics and log uploads, with the files received, and their status timeline",
          roles=COOPERATIVE, scope=Scope.CHARGER, response=FileTimelineView, errors=(404,), tag="firmware"),
    Route("get", "/api/chargepoints/{charge_point_id}/diagnostics/{transfer_id}/file", "diagnostics-file",
          diagnostics_file, "A diagnostics or log file the charger uploaded", roles=COOPERATIVE,
          scope=Scope.CHARGER, media_type="application/octet-stream", errors=(404, 422), tag="firmware"),
)  # fmt: skip
