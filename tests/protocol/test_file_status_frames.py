"""Firmware and log requests and the status notifications that answer them, in exact frames, per version:
the URL of CoopGrid's own server in the request, `{}` for each notification, each a step of the right
request; a notification that breaks the schema is refused and stores nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.test_registration import BOOT_16, BOOT_201, Raw, rest


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(make_settings(tmp_path)) as running:
        yield running


async def image(http: aiohttp.ClientSession, platform: Platform) -> int:
    form = aiohttp.FormData()
    form.add_field("file", b"image", filename="fw.bin")
    async with http.post(f"{platform.http_url}/api/firmware", data=form) as response:
        assert response.status == 201
        return int((await response.json())["id"])


async def timeline(http: aiohttp.ClientSession, platform: Platform, kind: str) -> dict[str, Any]:
    async with http.get(f"{platform.http_url}/api/chargepoints/CP-A/{kind}") as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


def sent(raw: Raw, action: str) -> dict[str, Any]:
    [frame] = [c for c in raw.calls if c[2] == action]
    payload: dict[str, Any] = frame[3]
    return payload


async def test_16_core_notifications_belong_to_the_latest_request(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        firmware_id = await image(http, platform)
        raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)))
        await raw.call("b", "BootNotification", BOOT_16)
        raw.answers["UpdateFirmware"] = {}
        url = f"{platform.http_url}/api/chargepoints/CP-A/firmware"
        status, body = await rest(
            http, raw, "post", url, {"firmware_id": firmware_id, "retrieve_date": "2030-01-01T00:00:00Z"}
        )
        assert (status, body["answer"], body["charger_answer"]) == (201, "Accepted", {})
        payload = sent(raw, "UpdateFirmware")
        assert set(payload) == {"location", "retrieveDate"}
        assert payload["retrieveDate"] == "2030-01-01T00:00:00Z"
        assert payload["location"].startswith(f"{platform.http_url}/files/chargers/CP-A/firmware/{body['id']}.")
        assert payload["location"].endswith("/fw.bin")
        assert body["url_expires"] == "2030-01-02T00:00:00Z"  # a day after the retrieve date
        assert await raw.call("n1", "FirmwareStatusNotification", {"status": "Downloading"}) == [3, "n1", {}]
        refused = await raw.call("n2", "FirmwareStatusNotification", {"status": "Exploded"})
        assert refused[:3] == [4, "n2", "PropertyConstraintViolation"]
        assert await raw.call("n3", "FirmwareStatusNotification", {"status": "DownloadFailed"}) == [3, "n3", {}]
        view = await timeline(http, platform, "firmware")
        [transfer] = view["transfers"]
        assert [(s["status"], s["request_id"]) for s in transfer["steps"]] == [
            ("Downloading", body["id"]), ("DownloadFailed", body["id"])]  # fmt: skip
        assert transfer["finished"] is True
        raw.answers["GetDiagnostics"] = {}  # nothing to upload
        status, body = await rest(http, raw, "post", f"{platform.http_url}/api/chargepoints/CP-A/diagnostics", {})
        assert (status, body["action"], body["answer"], body["finished"]) == (201, "GetDiagnostics", "NoFile", True)
        assert set(sent(raw, "GetDiagnostics")) == {"location"}
        await raw.ws.close()


@pytest.mark.parametrize(("protocol", "boot"), [("ocpp2.0.1", BOOT_201), ("ocpp2.1", BOOT_201)])
async def test_201_and_21_requests_carry_the_request_id(platform: Platform, protocol: str, boot: Any) -> None:
    async with aiohttp.ClientSession() as http:
        firmware_id = await image(http, platform)
        raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=(protocol,)))
        await raw.call("b", "BootNotification", boot)
        raw.answers["GetLog"] = {"status": "Accepted", "filename": "station.log"}
        base = f"{platform.http_url}/api/chargepoints/CP-A"
        status, log = await rest(http, raw, "post", f"{base}/diagnostics", {"log_type": "SecurityLog"})
        assert (status, log["action"], log["filename"]) == (201, "GetLog", "station.log")
        payload = sent(raw, "GetLog")
        assert (payload["requestId"], payload["logType"]) == (log["id"], "SecurityLog")
        assert payload["log"]["remoteLocation"].startswith(f"{platform.http_url}/files/chargers/CP-A/uploads/")
        status, update = await rest(http, raw, "post", f"{base}/firmware", {"firmware_id": firmware_id})
        assert status == 201
        assert sent(raw, "UpdateFirmware")["requestId"] == update["id"]
        notify = {"status": "Uploading", "requestId": log["id"]}
        assert await raw.call("l1", "LogStatusNotification", notify) == [3, "l1", {}]
        notify = {"status": "Downloaded", "requestId": update["id"]}
        assert await raw.call("f1", "FirmwareStatusNotification", notify) == [3, "f1", {}]
        [upload] = (await timeline(http, platform, "diagnostics"))["transfers"]
        assert [s["status"] for s in upload["steps"]] == ["Uploading"]
        assert upload["finished"] is False
        [transfer] = (await timeline(http, platform, "firmware"))["transfers"]
        assert [s["status"] for s in transfer["steps"]] == ["Downloaded"]
        await raw.ws.close()
