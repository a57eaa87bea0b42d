"""Firmware and diagnostics files served and received by CoopGrid itself, end to end: an operator uploads
an image over REST, the simulated chargers (1.6 and 2.0.1, black boxes) are sent UpdateFirmware and
GetDiagnostics/GetLog with signed URLs of CoopGrid's HTTP server, really download and upload over HTTP,
and their status notifications make each charger's timeline; refused URLs get 403."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.platform import Platform
from gateway.settings import ConfigError
from simulators.chargepoint import SimulatedChargePoint
from simulators.chargepoint201 import SimulatedChargePoint201
from simulators.clock import SimClock
from tests.fixtures.platform import make_settings, running_platform
from tests.unit.test_firmware_signatures import ROOT, ROOT_KEY, certificate, pem, rsa_key, signed

pytestmark = pytest.mark.integration

IMAGE = os.urandom(300_000)  # more than one chunk
SHA = hashlib.sha256(IMAGE).hexdigest()


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(make_settings(tmp_path, files={"max_upload_bytes": 1_000_000})) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def wait_until(condition: Callable[[], bool], within_s: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def upload_image(http: aiohttp.ClientSession, platform: Platform, **fields: str) -> dict[str, Any]:
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", IMAGE, filename="coop fw v2.bin", content_type="application/octet-stream")
    async with http.post(f"{platform.http_url}/api/firmware", data=form) as response:
        body: dict[str, Any] = await response.json()
        assert response.status == 201, body
        return body


async def get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with http.post(url, json=body) as response:
        return response.status, await response.json()


async def running(charger: SimulatedChargePoint) -> asyncio.Task[None]:
    task = asyncio.create_task(charger.run())
    await wait_until(lambda: charger.connected)
    return task


async def latest(http: aiohttp.ClientSession, url: str, steps: int) -> dict[str, Any]:
    """The newest transfer of a timeline once it holds `steps` status steps (stored: not merely sent)."""
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        transfer: dict[str, Any] = (await get(http, url))["transfers"][0]
        if len(transfer["steps"]) >= steps or asyncio.get_running_loop().time() > deadline:
            return transfer
        await asyncio.sleep(0.05)


def statuses(transfer: dict[str, Any]) -> list[str]:
    return [step["status"] for step in transfer["steps"]]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_firmware_downloaded_and_logs_uploaded_over_coopgrids_own_http(
    platform: Platform, http: aiohttp.ClientSession, version: str
) -> None:
    image = await upload_image(http, platform, version="2.0.0")
    assert (image["sha256"], image["size_bytes"], image["name"], image["version"]) == (
        SHA, len(IMAGE), "coop_fw_v2.bin", "2.0.0")  # fmt: skip
    assert [i["id"] for i in await get(http, f"{platform.http_url}/api/firmware")] == [image["id"]]
    kind = SimulatedChargePoint if version == "1.6" else SimulatedChargePoint201
    charger = kind("CP-A", platform.ocpp_url, clock=SimClock(datetime.now(UTC), speed=10.0))
    task = await running(charger)
    base = f"{platform.http_url}/api/chargepoints/CP-A"
    try:
        status, sent = await post(http, f"{base}/firmware", {"firmware_id": image["id"], "retries": 1})
        assert status == 201, sent
        assert (sent["action"], sent["answer"], sent["kind"]) == ("UpdateFirmware", "Accepted", "firmware")
        await wait_until(lambda: charger.installed_sha256 == SHA)
        assert charger.firmware_images == [IMAGE]  # the very bytes uploaded, fetched from our server
        await latest(http, f"{base}/firmware", 4)
        view = await get(http, f"{base}/firmware")
        [transfer] = view["transfers"]
        assert statuses(transfer) == ["Downloading", "Downloaded", "Installing", "Installed"]
        assert (transfer["id"], transfer["downloads"], transfer["finished"]) == (sent["id"], 1, True)
        assert [s["status"] for s in view["timeline"]] == statuses(transfer)

        status, asked = await post(http, f"{base}/diagnostics", {})
        assert status == 201, asked
        assert asked["action"] == ("GetDiagnostics" if version == "1.6" else "GetLog")
        assert asked["filename"] == ("diagnostics.log" if version == "1.6" else f"log-{asked['id']}.log")
        await wait_until(lambda: len(charger.uploads) == 1)
        upload = await latest(http, f"{base}/diagnostics", 2)
        assert len((await get(http, f"{base}/diagnostics"))["transfers"]) == 1
        notification = "DiagnosticsStatusNotification" if version == "1.6" else "LogStatusNotification"
        assert charger.sent[notification] == 2
        assert statuses(upload) == ["Uploading", "Uploaded"]
        assert upload["file_url"] == f"/api/chargepoints/CP-A/diagnostics/{asked['id']}/file"
        async with http.get(platform.http_url + upload["file_url"]) as response:
            assert response.status == 200
            content = await response.read()
            assert response.headers["Content-Disposition"] == f'attachment; filename="{upload["filename"]}"'
        assert content.startswith(b"charger CP-A firmware")
        assert hashlib.sha256(content).hexdigest() == upload["sha256"]
        assert upload["size_bytes"] == len(content)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_signed_16_update_and_a_16_security_log(platform: Platform, http: aiohttp.ClientSession) -> None:
    unsigned = await upload_image(http, platform)
    key = rsa_key()
    signer = certificate("Maker Firmware Signer", key, days=365 * 30)
    image = await upload_image(http, platform, signing_certificate=pem(signer), signature=signed(key, IMAGE))
    assert (unsigned["signed"], image["signed"]) == (False, True)
    charger = SimulatedChargePoint("CP-A", platform.ocpp_url, clock=SimClock(datetime.now(UTC), speed=10.0))
    task = await running(charger)
    base = f"{platform.http_url}/api/chargepoints/CP-A"
    try:
        status, refused = await post(http, f"{base}/firmware", {"firmware_id": unsigned["id"], "signed": True})
        assert status == 422, refused
        assert charger.sent["SignedFirmwareStatusNotification"] == 0
        status, sent = await post(http, f"{base}/firmware", {"firmware_id": image["id"], "signed": True})
        assert (status, sent["action"], sent["charger_answer"]) == (201, "SignedUpdateFirmware", {"status": "Accepted"})
        transfer = await latest(http, f"{base}/firmware", 5)
        assert statuses(transfer) == ["Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"]
        status, asked = await post(http, f"{base}/diagnostics", {"log_type": "SecurityLog"})
        assert (status, asked["action"]) == (201, "GetLog")
        upload = await latest(http, f"{base}/diagnostics", 2)
        assert statuses(upload) == ["Uploading", "Uploaded"]
        assert upload["received"] is not None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_expired_foreign_and_altered_urls_are_refused(platform: Platform, http: aiohttp.ClientSession) -> None:
    image = await upload_image(http, platform)
    files = platform.files
    now = datetime.now(UTC)
    later = now + timedelta(hours=1)
    firmware = await files.repository.create_transfer("CP-A", "firmware", "UpdateFirmware", now, later, image["id"])
    uploads = await files.repository.create_transfer("CP-A", "diagnostics", "GetLog", now, later)
    good = files.firmware_url("CP-A", firmware, later, "fw.bin")
    async with http.get(good) as response:
        assert response.status == 200
        assert await response.read() == IMAGE
    refused_urls = [
        files.firmware_url("CP-A", firmware, now - timedelta(seconds=1), "fw.bin"),  # expired
        good.replace("/chargers/CP-A/", "/chargers/CP-B/"),  # CP-A's token on CP-B's URL
        good[:-12] + ("A" if good[-12] != "A" else "B") + good[-11:],  # the signature altered
        files.upload_url("CP-A", firmware, later).replace("/uploads/", "/firmware/") + "/fw.bin",  # another purpose
    ]
    for url in refused_urls:
        async with http.get(url) as response:
            assert response.status == 403, url
            assert (await response.json())["error"]["code"] == "Forbidden"
    upload = files.upload_url("CP-A", uploads, later)
    for url in (files.upload_url("CP-A", uploads, now - timedelta(seconds=1)), upload.replace("CP-A", "CP-B")):
        async with http.put(url + "/x.log", data=b"log") as response:
            assert response.status == 403
    assert (await files.repository.transfer_row(uploads)).received_ts is None  # type: ignore[union-attr]
    async with http.put(upload + "/big.log", data=b"x" * 1_000_001) as response:
        assert response.status == 413
    assert (await files.repository.transfer_row(uploads)).received_ts is None  # type: ignore[union-attr]
    assert not list((files.directory / "uploads").iterdir())  # nothing half written is left
    async with http.put(upload + "/station.log", data=b"a log\n") as response:
        assert response.status == 201
        assert await response.json() == {"received": "station.log", "size_bytes": 6}
    assert files.upload_path(uploads).read_bytes() == b"a log\n"


async def test_a_bad_upload_is_refused_with_a_clear_error(platform: Platform, http: aiohttp.ClientSession) -> None:
    bad_header = b'--b\r\nContent-Disposition: form-data; name="\xc2\x97\x1b"\r\n\r\n1\r\n--b--\r\n'
    no_file = b'--b\r\nContent-Disposition: form-data; name="version"\r\n\r\n1\r\n--b--\r\n'
    cases = [
        ("multipart/form-data", b"", "not a readable multipart/form-data body"),  # no boundary
        ("multipart/form-data; boundary=b", bad_header, "not a readable multipart/form-data body"),
        ("multipart/form-data; boundary=b", no_file, "file: the firmware image is missing"),
        ("application/json", b"{}", "multipart/form-data with a `file` field expected"),
    ]
    for content_type, body, message in cases:
        headers = {"Content-Type": content_type}
        async with http.post(f"{platform.http_url}/api/firmware", data=body, headers=headers) as response:
            assert response.status == 422
            assert (await response.json())["error"]["message"] == message
    form = aiohttp.FormData()
    form.add_field("signature", "x" * 7000)
    form.add_field("file", b"image", filename="fw.bin")
    async with http.post(f"{platform.http_url}/api/firmware", data=form) as response:
        assert response.status == 422
        assert (await response.json())["error"]["message"] == "signature: too long"
    assert await get(http, f"{platform.http_url}/api/firmware") == []  # nothing kept of any of them
    status, body = await post(http, f"{platform.http_url}/api/chargepoints/CP-A/firmware", {"firmware_id": 99})
    assert (status, body["error"]["code"]) == (422, "UnknownFirmware")


async def test_a_signed_image_is_checked_at_upload_against_the_signing_roots(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    roots = tmp_path / "firmware-roots.pem"
    roots.write_text(pem(ROOT))
    settings = make_settings(tmp_path, files={"firmware_signing_roots": str(roots)})
    key = rsa_key()
    signer = certificate("Maker Firmware Signer", key, ("Maker Firmware Root", ROOT_KEY), days=365 * 30)
    stranger_key = rsa_key()
    stranger = certificate("Someone", stranger_key, days=365 * 30)

    async def refused(platform: Platform, **fields: str) -> dict[str, Any]:
        form = aiohttp.FormData()
        for name, value in fields.items():
            form.add_field(name, value)
        form.add_field("file", IMAGE, filename="fw.bin", content_type="application/octet-stream")
        async with http.post(f"{platform.http_url}/api/firmware", data=form) as response:
            assert response.status == 422, await response.text()
            body: dict[str, Any] = (await response.json())["error"]
            return body

    async with running_platform(settings) as platform:
        tampered = signed(key, IMAGE + b"!")
        assert (await refused(platform, signing_certificate=pem(signer), signature=tampered))[
            "code"
        ] == "InvalidSignature"
        untrusted = await refused(platform, signing_certificate=pem(stranger), signature=signed(stranger_key, IMAGE))
        assert untrusted["code"] == "UntrustedCertificate"
        assert untrusted["message"].startswith("signing_certificate:")
        lone = await refused(platform, signature=signed(key, IMAGE))
        assert "signing_certificate" in lone["message"]
        assert await get(http, f"{platform.http_url}/api/firmware") == []  # nothing kept of the refused
        assert not (platform.files.directory / "firmware" / SHA).exists()
        image = await upload_image(http, platform, signing_certificate=pem(signer), signature=signed(key, IMAGE))
        assert image["signed"] is True
        assert [i["id"] for i in await get(http, f"{platform.http_url}/api/firmware")] == [image["id"]]


def test_a_signing_roots_file_that_is_no_pem_stops_start_up(tmp_path: Path) -> None:
    broken = tmp_path / "roots.pem"
    broken.write_text("not a certificate")
    with pytest.raises(ConfigError, match="files.firmware_signing_roots: .*not a PEM file"):
        make_settings(tmp_path, files={"firmware_signing_roots": str(broken)})
