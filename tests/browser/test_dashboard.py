"""The dashboard in a real headless Chromium: loads clean, commands reach a charger, values update live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.platform import Platform
from simulators.chargepoint import EVArrival, SimulatedChargePoint
from simulators.clock import SimClock
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


async def wait_until(condition: object, within_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_dashboard_live_and_commands(platform: Platform) -> None:
    chromium = require_binary("chromium", "/usr/bin/chromium")
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    clock = SimClock(datetime(1990, 6, 14, 16, tzinfo=UTC), speed=60.0)
    charger = SimulatedChargePoint(
        "CP-A", platform.ocpp_url, clock=clock, id_tag="TAG-OK", ev_plan=[EVArrival(arrive_after_s=120.0)]
    )
    simulation = asyncio.create_task(charger.run())
    try:
        await wait_until(lambda: charger.connected)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = await browser.new_page()
            console_errors: list[str] = []
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            await page.goto(platform.http_url + "/")
            await page.wait_for_selector("#conn.live", timeout=10_000)
            await page.wait_for_selector('#status-counts [data-status="Offline"]')  # CP-B never connects

            # the EV arrives two simulated minutes in: the page follows without a reload
            await page.wait_for_selector('#status-counts [data-status="Charging"]', timeout=15_000)
            await page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)

            # commands clicked in the page reach the simulated charger
            await page.click('#tabs button[data-tab="chargers"]')
            await page.click('#charger-rows tr[data-id="CP-A"]')
            await page.click('button[data-cmd="reset"]')
            await wait_until(lambda: charger.resets == ["Soft"])
            await page.wait_for_function("document.getElementById('cmd-result').textContent.includes('Accepted')")
            await page.fill("#cmd-limit", "8")
            await page.click('button[data-cmd="limit"]')
            await wait_until(lambda: charger.offered_limit_a() == 8.0)
            await wait_until(lambda: 0 < charger.drawn_current_a() <= 8.0)
            await page.screenshot(path=str(ARTIFACTS / "dashboard-charger.png"), full_page=True)

            for tab in ("sessions", "parks", "allocation", "report"):
                await page.click(f'#tabs button[data-tab="{tab}"]')
                await page.wait_for_selector(f"#{tab}.active", state="attached")
            await page.click('#tabs button[data-tab="sessions"]')
            await page.wait_for_selector("#session-rows tr")
            await page.screenshot(path=str(ARTIFACTS / "dashboard-sessions.png"), full_page=True)
            await browser.close()
    finally:
        simulation.cancel()
        await asyncio.gather(simulation, return_exceptions=True)
    assert console_errors == []


async def test_the_cooperative_report_from_sql(tmp_path: Path) -> None:
    """The Report tab reads the SQL intervals: a table, a chart per park, a 15-minute curve and a CSV."""
    chromium = require_binary("chromium", "/usr/bin/chromium")
    from playwright.async_api import async_playwright

    from solar.accounting import Baseline

    settings = make_settings(
        tmp_path,
        cooperatives=[{"id": "coop", "name": "Sun coop", "members": [{"id": "m1", "name": "Alder farm"}]}],
        parks=[{"id": "park-1", "member_id": "m1", "inverters": [{"id": "inv-1", "rated_power_w": 5000.0}]}],
    )
    today = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
    minutes = {("park-1/inv-1", today.replace(minute=m)): 50.0 for m in range(60)}  # 3 kWh in the hour
    green = [("park-1", today.replace(minute=m), 20.0, 20.0) for m in range(60)]  # 1.2 kWh of it into EVs
    async with running_platform(settings) as platform:
        await platform.store.energy.add_minutes(minutes, {"park-1/inv-1": Baseline(today, 1000.0)}, green)
        ARTIFACTS.mkdir(exist_ok=True)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = await browser.new_page(accept_downloads=True)
            console_errors: list[str] = []
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            await page.goto(platform.http_url + "/")
            await page.click('#tabs button[data-tab="report"]')
            await page.wait_for_selector("#report-rows tr")
            row = await page.inner_text("#report-rows tr")
            assert "Alder farm" in row
            assert "3.00 kWh" in row
            assert "1.20 kWh" in row
            assert "1.80 kWh" in row
            assert "40%" in row
            await page.wait_for_selector("#report-bars rect")
            await page.wait_for_selector("#park-energy path", state="attached")
            async with page.expect_download() as download_info:
                await page.click("#report-csv")
            download = await download_info.value
            csv_text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
            assert "m1,Alder farm,park-1,3.0,1.2,1.8" in csv_text
            await page.screenshot(path=str(ARTIFACTS / "dashboard-report.png"), full_page=True)
            await browser.close()
    assert console_errors == []
