"""Lists are paged (`limit`, `offset`, `X-Total-Count`, `Link`) and filtered, with clear errors for bad queries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.test_ocpp16_frames import Charger


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    sites = [{"id": "site-a", "grid_limit_a": 32.0}, {"id": "site-b", "grid_limit_a": 32.0}]
    async with running_platform(make_settings(tmp_path, sites=sites)) as running:
        yield running


async def pages(http: aiohttp.ClientSession, url: str) -> tuple[list[list[dict[str, object]]], list[int]]:
    """Follow the Link headers from `url` to the last page."""
    seen, totals = [], []
    next_url: str | None = url
    while next_url:
        async with http.get(next_url) as response:
            assert response.status == 200, await response.text()
            seen.append(await response.json())
            totals.append(int(response.headers["X-Total-Count"]))
            link = response.headers.get("Link")
        next_url = link[1 : link.index(">")] if link else None
    return seen, totals


async def test_charge_points_page_and_filter(platform: Platform) -> None:
    base = platform.http_url
    async with aiohttp.ClientSession() as http:
        for n in range(23):
            body = {"id": f"EXTRA-{n:02d}", "site_id": "site-b" if n % 2 else "site-a"}
            async with http.post(f"{base}/api/chargepoints", json=body) as response:
                assert response.status == 201
        got, totals = await pages(http, f"{base}/api/chargepoints?limit=10")
        assert [len(page) for page in got] == [10, 10, 5]
        assert totals == [25, 25, 25]
        ids = [c["id"] for page in got for c in page]
        assert len(set(ids)) == 25
        got, totals = await pages(http, f"{base}/api/chargepoints?site=site-b&limit=4")
        assert totals[0] == 11
        assert all(c["site_id"] == "site-b" for page in got for c in page)
        async with http.get(f"{base}/api/chargepoints?connected=false&limit=1") as response:
            assert response.headers["X-Total-Count"] == "25"
        for query, word in (
            ("limit=0", "limit"),
            ("offset=-1", "offset"),
            ("limit=x", "whole"),
            ("connected=maybe", "connected"),
        ):
            async with http.get(f"{base}/api/chargepoints?{query}") as response:
                assert response.status == 422
                assert word in (await response.json())["error"]["message"]


async def test_sessions_page_newest_first_and_filter_by_time(platform: Platform) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
    ):
        charger = Charger(ws)
        await charger.call("b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        for n in range(7):
            start = {
                "connectorId": 1,
                "idTag": "TAG-OK",
                "meterStart": n * 1000,
                "timestamp": f"2026-03-0{n + 1}T10:00:00Z",
            }
            answer = await charger.call(f"s{n}", "StartTransaction", start)
            stop = {
                "transactionId": answer[2]["transactionId"],
                "meterStop": n * 1000 + 500,
                "timestamp": f"2026-03-0{n + 1}T11:00:00Z",
            }
            await charger.call(f"e{n}", "StopTransaction", stop)
        base = f"{platform.http_url}/api/sessions"
        got, totals = await pages(http, f"{base}?limit=3")
        assert [len(page) for page in got] == [3, 3, 1]
        assert totals == [7, 7, 7]
        starts = [str(s["start"]) for page in got for s in page]
        assert starts == sorted(starts, reverse=True)
        async with http.get(f"{base}?from=2026-03-03T00:00:00Z&to=2026-03-05") as response:
            window = await response.json()
            assert response.headers["X-Total-Count"] == "2"
        assert sorted(s["start"][:10] for s in window) == ["2026-03-03", "2026-03-04"]
        async with http.get(f"{base}?from=yesterday") as response:
            assert response.status == 422
            assert "ISO 8601" in (await response.json())["error"]["message"]
