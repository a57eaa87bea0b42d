"""The dashboard in a real headless Chromium: loads clean, commands reach a charger, values update live."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform
from tests.fixtures.services import require_binary

ARTIFACTS = Path(__file__).parents[2] / "artifacts"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(make_settings(tmp_path)) as running:
        yield running


class RawCharger:
    """A minimal OCPP 1.6 charge point that records and accepts the central system's calls."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.calls: asyncio.Queue[list[Any]] = asyncio.Queue()
        self._answers: dict[str, asyncio.Future[list[Any]]] = {}

    async def serve(self) -> None:
        async for message in self.ws:
            frame = json.loads(message.data)
            if frame[0] == 2:
                await self.calls.put(frame)
                reply = {"configurationKey": []} if frame[2] == "GetConfiguration" else {"status": "Accepted"}
                await self.ws.send_str(json.dumps([3, frame[1], reply]))
            elif frame[1] in self._answers:
                self._answers.pop(frame[1]).set_result(frame)

    async def call(self, unique_id: str, action: str, payload: dict[str, Any]) -> list[Any]:
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._answers[unique_id] = future
        await self.ws.send_str(json.dumps([2, unique_id, action, payload]))
        return await asyncio.wait_for(future, 5)


async def test_dashboard_live_and_commands(platform: Platform) -> None:
    chromium = require_binary("chromium", "/usr/bin/chromium")
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
        async_playwright() as playwright,
    ):
        charger = RawCharger(ws)
        serving = asyncio.create_task(charger.serve())
        await charger.call("b", "BootNotification", {"chargePointVendor": "Sim", "chargePointModel": "S"})
        status = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
        await charger.call("s1", "StatusNotification", status)

        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: console_errors.append(str(e)))
        await page.goto(platform.http_url + "/")
        await page.wait_for_selector("#conn.live", timeout=10_000)
        await page.wait_for_selector('#status-counts [data-status="Available"]')
        await page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)

        # a live change reaches the page without a reload
        await charger.call("s2", "StatusNotification", {**status, "status": "Charging"})
        await page.wait_for_selector('#status-counts [data-status="Charging"]', timeout=5_000)

        # a command clicked in the page reaches the charger
        await page.click('#tabs button[data-tab="chargers"]')
        await page.click('#charger-rows tr[data-id="CP-A"]')
        while not charger.calls.empty():
            charger.calls.get_nowait()  # the calls that followed boot
        await page.click('button[data-cmd="reset"]')
        frame = await asyncio.wait_for(charger.calls.get(), 5)
        assert frame[2:] == ["Reset", {"type": "Soft"}]
        await page.wait_for_function("document.getElementById('cmd-result').textContent.includes('Accepted')")
        await page.fill("#cmd-limit", "8")
        await page.click('button[data-cmd="limit"]')
        frame = await asyncio.wait_for(charger.calls.get(), 5)
        assert frame[2] == "SetChargingProfile"
        assert frame[3]["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 8.0
        await page.screenshot(path=str(ARTIFACTS / "dashboard-charger.png"), full_page=True)

        for tab in ("sessions", "parks", "allocation", "report"):
            await page.click(f'#tabs button[data-tab="{tab}"]')
            await page.wait_for_selector(f"#{tab}.active", state="attached")
        await page.screenshot(path=str(ARTIFACTS / "dashboard-report.png"), full_page=True)
        await browser.close()
        serving.cancel()
    assert console_errors == []
