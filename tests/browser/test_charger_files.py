"""The charger page in a real headless Chromium: its active reservations with their expiry and a cancel
button (the existing REST), its firmware updates and its diagnostics uploads with the received file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.platform import Platform
from simulators.chargepoint import SimulatedChargePoint
from simulators.clock import SimClock
from tests.browser.test_dashboard import CHROMIUM_ARGS, SCREENSHOTS, at, wait_until
from tests.fixtures.platform import make_settings, running_platform
from tests.fixtures.services import require_binary
from tests.integration.test_file_transfers import latest


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(make_settings(tmp_path)) as running:
        yield running


async def rest(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Any:
    async with http.request(method, url, **kwargs) as response:
        body = await response.json()
        assert response.status < 300, body
        return body


async def test_reservations_firmware_and_diagnostics_on_the_charger_page(platform: Platform) -> None:
    chromium = require_binary("chromium", "/usr/bin/chromium")
    from playwright.async_api import async_playwright

    charger = SimulatedChargePoint("CP-A", platform.ocpp_url, clock=SimClock(datetime.now(UTC), speed=10.0))
    simulation = asyncio.create_task(charger.run())
    console_errors: list[str] = []
    base = f"{platform.http_url}/api/chargepoints/CP-A"
    try:
        await wait_until(lambda: charger.connected)
        async with aiohttp.ClientSession() as http:
            form = aiohttp.FormData()
            form.add_field("file", b"\x7fELF firmware", filename="fw.bin")
            image = await rest(http, "post", f"{platform.http_url}/api/firmware", data=form)
            await rest(http, "post", f"{base}/firmware", json={"firmware_id": image["id"]})
            await latest(http, f"{base}/firmware", 4)  # the four steps stored
            expiry = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
            body = {"connector_id": 1, "id_tag": "TAG-OK", "expiry_date": expiry}
            reservation = await rest(http, "post", f"{base}/reservations", json=body)
            assert reservation["status"] == "Active"
            other = await rest(http, "post", f"{base}/reservations", json={**body, "id_tag": "TAG-2"})
            assert other["status"] == "Refused"  # the connector is reserved already: not shown as active
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: console_errors.append(str(e)))
                await page.goto(platform.http_url + "/#/chargers/CP-A")
                await at(page, "#/chargers/CP-A")
                row = f'#detail-reservations tr[data-reservation="{reservation["id"]}"]'
                await page.wait_for_selector(row, timeout=15_000)
                text = await page.inner_text(row)
                assert "TAG-OK" in text
                assert "Active" in text
                assert "in 1 h 5" in text  # its expiry, two hours less a moment from now
                assert await page.locator("#detail-reservations tr[data-reservation]").count() == 1
                firmware = await page.inner_text("#detail-firmware")
                assert "UpdateFirmware" in firmware
                assert "Downloading → Downloaded → Installing → Installed" in firmware
                assert "fetched 1×" in firmware

                await page.click("#request-log")
                await page.wait_for_function(
                    "document.getElementById('diagnostics-result').textContent.includes('GetDiagnostics')"
                )
                await wait_until(lambda: charger.uploads == ["diagnostics.log"])
                link = page.locator("#detail-diagnostics a[download]")
                await link.wait_for(timeout=15_000)  # the page refreshes every 10 s
                assert await link.inner_text() == "diagnostics.log"
                async with http.get(platform.http_url + str(await link.get_attribute("href"))) as response:
                    assert (await response.read()).startswith(b"charger CP-A")

                await page.click(f"{row} button.cancel-reservation")
                await page.wait_for_function(
                    "document.getElementById('reservation-result').textContent.includes('Cancelled')"
                )
                await page.wait_for_function(
                    "document.getElementById('detail-reservations').textContent.includes('no active reservation')"
                )
                assert charger.reservations == {}  # CancelReservation reached the charger
                stored = await rest(http, "get", f"{platform.http_url}/api/reservations/{reservation['id']}")
                assert (stored["status"], stored["charger_status"]) == ("Cancelled", "Accepted")
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(SCREENSHOTS / "charger-files.png"), full_page=True)
                await browser.close()
    finally:
        simulation.cancel()
        await asyncio.gather(simulation, return_exceptions=True)
    assert console_errors == []
