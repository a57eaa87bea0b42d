"""A station's installed certificates from REST: listed (GetInstalledCertificateIds), installed
(InstallCertificate) and deleted (DeleteCertificate), each answer stored as a charger event; the last
listing is what a deletion names its certificate from, and what is shown while the charger is away."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chargepoints.installed_certificates import (
    CertificateRequestError,
    delete_request,
    install_request,
    installed,
    list_requests,
)
from gateway.api.chargers import commanding
from gateway.api.context import Api, api, error, iso
from gateway.api.params import read_body
from gateway.api.table import Route

LISTED = "InstalledCertificates"


class CertificateInstall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    certificate_type: str = Field(description="e.g. CSMSRootCertificate (2.x), CentralSystemRootCertificate (1.6)")
    certificate: str = Field(min_length=1, max_length=5500, description="PEM (OCPP's limit: 5500 characters)")


def _known(context: Api, charge_point_id: str) -> web.Response | None:
    if not context.central.knows(charge_point_id):
        return error(404, "NotFound", f"no charge point {charge_point_id!r}")
    return None


def _version(context: Api, charge_point_id: str) -> str:
    return context.central.state(charge_point_id).ocpp_version or "1.6"


async def list_certificates(request: web.Request) -> web.Response:
    context = api(request)
    charge_point_id = request.match_info["charge_point_id"]
    if (missing := _known(context, charge_point_id)) is not None:
        return missing
    version = _version(context, charge_point_id)
    types = tuple(t for t in request.query.get("type", "").split(",") if t)
    try:
        asked = list_requests(version, types)
    except CertificateRequestError as exc:
        return error(422, "InvalidQuery", str(exc))
    if context.cluster.owner(charge_point_id) is None:  # connected to no instance
        stored = await context.store.events.latest(charge_point_id, LISTED)
        if stored is None:
            return error(409, "NotConnected", f"{charge_point_id} is not connected and was never listed")
        return web.json_response({"source": "stored", "listed_at": stored["ts"], **stored["payload"]})
    answers = []
    for payload in asked:
        answer = await commanding(
            charge_point_id, context.cluster.call(charge_point_id, "GetInstalledCertificateIds", payload)
        )
        if isinstance(answer, web.Response):
            return answer
        answers.append(answer)
    listing: dict[str, object] = {
        "certificates": installed(version, asked, answers),
        "statuses": [a.get("status") for a in answers],
    }
    await context.store.events.record_event(charge_point_id, context.clock(), LISTED, listing)
    return web.json_response({"source": "charger", "listed_at": iso(context.clock()), **listing})


async def install_certificate(request: web.Request) -> web.Response:
    context = api(request)
    charge_point_id = request.match_info["charge_point_id"]
    if (missing := _known(context, charge_point_id)) is not None:
        return missing
    body = await read_body(request, CertificateInstall)
    try:
        payload = install_request(_version(context, charge_point_id), body.certificate_type, body.certificate)
    except CertificateRequestError as exc:
        return error(422, "InvalidBody", str(exc))
    answer = await commanding(charge_point_id, context.cluster.call(charge_point_id, "InstallCertificate", payload))
    if isinstance(answer, web.Response):
        return answer
    result = {"certificate_type": body.certificate_type, "status": answer.get("status")}
    await context.store.events.record_event(charge_point_id, context.clock(), "InstallCertificate", result)
    return web.json_response(result)


async def delete_certificate(request: web.Request) -> web.Response:
    context = api(request)
    charge_point_id = request.match_info["charge_point_id"]
    if (missing := _known(context, charge_point_id)) is not None:
        return missing
    serial = request.match_info["serial_number"]
    stored = await context.store.events.latest(charge_point_id, LISTED)
    listed: list[dict[str, Any]] = stored["payload"].get("certificates", []) if stored else []
    entry = next((c for c in listed if str(c.get("serial_number", "")).lower() == serial.lower()), None)
    if entry is None:
        return error(404, "NotFound", f"no certificate {serial!r} in {charge_point_id}'s last listing (list it first)")
    answer = await commanding(
        charge_point_id, context.cluster.call(charge_point_id, "DeleteCertificate", delete_request(entry))
    )
    if isinstance(answer, web.Response):
        return answer
    result = {"serial_number": entry["serial_number"], "status": answer.get("status")}
    await context.store.events.record_event(charge_point_id, context.clock(), "DeleteCertificate", result)
    return web.json_response(result)


_PATH = "/api/chargepoints/{charge_point_id}/certificates"
ROUTES: tuple[Route, ...] = (
    Route("get", _PATH, "certificates", list_certificates,
          "The station's installed certificates (GetInstalledCertificateIds; ?type=A,B), stored; the last "
          "listing while it is not connected", free_response=True, errors=(404, 409, 422, 502, 504),
          query=(("type", "string", "certificate types, comma-separated (default: all)"),)),
    Route("post", _PATH, "certificate-install", install_certificate,
          "Install a root certificate on the station (InstallCertificate); the answer is stored",
          body=CertificateInstall, free_response=True, errors=(404, 409, 422, 502, 504)),
    Route("delete", _PATH + "/{serial_number}", "certificate-delete", delete_certificate,
          "Delete one certificate of the last listing (DeleteCertificate); the answer is stored",
          free_response=True, errors=(404, 409, 422, 502, 504)),
)  # fmt: skip
