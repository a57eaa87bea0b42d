"""SendLocalList Differential from the id tag changes since the version the charger holds (Full when it holds
none), and DataTransfer answered by the handler registered for its vendor id; exact frames, both versions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chargepoints.local_list import update_for
from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.test_registration import BOOT_16, BOOT_201, Raw, rest


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(make_settings(tmp_path)) as running:
        yield running


async def local_list(http: aiohttp.ClientSession, platform: Platform, raw: Raw, held: int) -> dict[str, Any]:
    raw.calls.clear()
    key = "listVersion" if raw.ws.protocol == "ocpp1.6" else "versionNumber"
    raw.answers["GetLocalListVersion"] = {key: held}
    status, body = await rest(http, raw, "post", f"{platform.http_url}/api/chargepoints/CP-A/local-list", {})
    assert status == 200, body
    return body


def sent(raw: Raw) -> list[dict[str, Any]]:
    return [c[3] for c in raw.calls if c[2] == "SendLocalList"]


async def test_16_full_then_differential_then_up_to_date(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)))
        await raw.call("b", "BootNotification", BOOT_16)
        raw.answers["GetLocalListVersion"] = {"listVersion": 0}
        full = await local_list(http, platform, raw, 0)
        assert [c[2] for c in raw.calls if c[2] != "GetConfiguration"] == ["GetLocalListVersion", "SendLocalList"]
        version = full["list_version"]
        assert full == {"status": "Accepted", "list_version": version, "update_type": "Full"}
        assert sent(raw) == [
            {
                "listVersion": version,
                "updateType": "Full",
                "localAuthorizationList": [
                    {"idTag": "TAG-BLOCKED", "idTagInfo": {"status": "Blocked"}},
                    {"idTag": "TAG-OK", "idTagInfo": {"status": "Accepted"}},
                ],
            }
        ]
        tags = f"{platform.http_url}/api/id-tags"
        await http.put(f"{tags}/NEW-1", json={"status": "Accepted", "group_id": "FLEET"})
        await http.put(f"{tags}/TAG-BLOCKED", json={"status": "Accepted"})
        await http.put(f"{tags}/TAG-BLOCKED", json={"status": "Accepted"})  # no change: no new version
        await http.delete(f"{tags}/TAG-OK")
        differential = await local_list(http, platform, raw, version)
        assert differential["update_type"] == "Differential"
        assert differential["list_version"] == version + 3
        assert sent(raw) == [
            {
                "listVersion": version + 3,
                "updateType": "Differential",
                "localAuthorizationList": [
                    {"idTag": "NEW-1", "idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET"}},
                    {"idTag": "TAG-BLOCKED", "idTagInfo": {"status": "Accepted"}},
                    {"idTag": "TAG-OK"},  # removed
                ],
            }
        ]
        assert await local_list(http, platform, raw, version + 3) == {
            "list_version": version + 3,
            "update_type": "UpToDate",
        }
        assert sent(raw) == []
        # a version we never made (an older scheme's timestamp): Full
        stranger = await local_list(http, platform, raw, 1_700_000_000)
        assert stranger["update_type"] == "Full"
        assert [e["idTag"] for e in sent(raw)[0]["localAuthorizationList"]] == ["NEW-1", "TAG-BLOCKED"]
        # a Differential the charger does not take: Full
        raw.answers["SendLocalList"] = {"status": "VersionMismatch"}
        await http.put(f"{tags}/NEW-2", json={"status": "Accepted"})
        await local_list(http, platform, raw, version + 3)
        assert [p["updateType"] for p in sent(raw)] == ["Differential", "Full"]
        await raw.ws.close()


async def test_201_differential_shape(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp2.0.1",)))
        await raw.call("b", "BootNotification", BOOT_201)
        version = (await local_list(http, platform, raw, 0))["list_version"]
        await http.delete(f"{platform.http_url}/api/id-tags/TAG-OK")
        await local_list(http, platform, raw, version)
        assert sent(raw) == [
            {
                "versionNumber": version + 1,
                "updateType": "Differential",
                "localAuthorizationList": [{"idToken": {"idToken": "TAG-OK", "type": "Central"}}],
            }
        ]
        await raw.ws.close()


@pytest.mark.parametrize(
    ("held", "oldest", "newest", "update"),
    [
        (None, 1, 5, "Full"),
        (0, 1, 5, "Full"),
        (-1, 1, 5, "Full"),
        (3, 1, 5, "Differential"),
        (5, 1, 5, "UpToDate"),
        (9, 1, 5, "Full"),
        (2, 4, 5, "Full"),
        (3, 4, 5, "Differential"),
    ],
)
def test_update_for(held: int | None, oldest: int, newest: int, update: str) -> None:
    assert update_for(held, oldest, newest) == update


@pytest.mark.parametrize(
    ("protocol", "data", "echoed"), [("ocpp1.6", "abc", "cba"), ("ocpp2.0.1", {"k": [1]}, {"k": [1]})]
)
async def test_data_transfer_by_vendor(platform: Platform, protocol: str, data: Any, echoed: Any) -> None:
    seen: list[tuple[str, str | None, Any]] = []

    async def echo(charge_point_id: str, message_id: str | None, payload: Any) -> tuple[str, Any]:
        seen.append((charge_point_id, message_id, payload))
        return "Accepted", payload[::-1] if isinstance(payload, str) else payload

    platform.central.register_vendor("com.example.echo", echo)
    async with aiohttp.ClientSession() as http:
        raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=(protocol,)))
        await raw.call("b", "BootNotification", BOOT_16 if protocol == "ocpp1.6" else BOOT_201)
        mine = {"vendorId": "com.example.echo", "messageId": "Ping", "data": data}
        assert await raw.call("d1", "DataTransfer", mine) == [3, "d1", {"status": "Accepted", "data": echoed}]
        other = {"vendorId": "com.example.other", "data": data}
        assert await raw.call("d2", "DataTransfer", other) == [3, "d2", {"status": "UnknownVendorId"}]
        assert seen == [("CP-A", "Ping", data)]
        await raw.ws.close()
