"""The dashboard's Accounts tab in a real headless Chromium: each account's month, with its energy, green share,
green energy by park and cost, as the account summary computes them (a member's OCPP 1.6 session while two
parks generate, through the embedded broker and the one green accounting)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from tests.browser.test_dashboard import CHROMIUM_ARGS, SCREENSHOTS
from tests.fixtures.platform import running_platform
from tests.fixtures.services import require_binary
from tests.protocol.ocpp_client import server_call_answer
from tests.protocol.test_account_parks import caught_up, member_and_tariff, park_settings, publish_generation


async def test_the_accounts_tab_shows_energy_green_by_park_and_cost(tmp_path: Path) -> None:
    chromium = require_binary("chromium", "/usr/bin/chromium")
    from playwright.async_api import async_playwright

    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    async with running_platform(park_settings(tmp_path)) as platform:
        platform.clock = lambda: minute + timedelta(seconds=30)
        await member_and_tariff(platform)
        await publish_generation(platform, minute)
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
        ):

            async def call(action: str, payload: dict[str, Any]) -> dict[str, Any]:
                await ws.send_str(json.dumps([2, action, action, payload]))
                while True:
                    frame = json.loads(await ws.receive_str(timeout=5))
                    if frame[0] != 2:
                        return dict(frame[2])
                    await ws.send_str(json.dumps([3, frame[1], server_call_answer(frame)]))

            await call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
            start = {"connectorId": 1, "idTag": "CARD-ANNA", "meterStart": 0, "timestamp": minute.isoformat()}
            transaction_id = (await call("StartTransaction", start))["transactionId"]
            stop_ts = (minute + timedelta(seconds=30)).isoformat()
            await call("StopTransaction", {"transactionId": transaction_id, "meterStop": 8000, "timestamp": stop_ts})
        await caught_up(platform, minute)
        await platform.energy.flush(final=True)

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            console_errors: list[str] = []
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            await page.goto(platform.http_url + "/#/accounts")
            await page.fill("#accounts-month", minute.strftime("%Y-%m"))
            await page.click("#accounts-form button[type=submit]")
            await page.wait_for_function(
                "document.querySelector('#account-rows tr td.parks')?.textContent.includes('park-2')"
            )
            cells = await page.eval_on_selector_all("#account-rows tr td", "tds => tds.map(td => td.textContent)")
            assert cells[:8] == ["anna", "member", "coop-1", "1", "8.0 kWh", "50%", "park-1 3.0 kWh, park-2 1.0 kWh",
                                 "2.78 EUR"]  # fmt: skip
            link = await page.get_attribute("#account-rows tr td:last-child a", "href")
            assert link == f"/api/accounts/anna/statement?month={minute:%Y-%m}&format=html"
            await page.screenshot(path=str(SCREENSHOTS / "accounts.png"), full_page=True)
            await browser.close()
    assert console_errors == []
