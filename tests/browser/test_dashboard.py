"""The dashboard in a real headless Chromium: loads clean, commands reach a charger, values update live."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


OPERATOR_TOKEN = "browser-operator-token-0123456789"
SCREENSHOTS = ARTIFACTS / "screenshots"
TABS = ("overview", "chargers", "sessions", "parks", "allocation", "report", "accounts")


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(
        tmp_path,
        http={"host": "127.0.0.1", "port": 0, "auth": True},
        operator_token=OPERATOR_TOKEN,
        cooperatives=[{"id": "coop", "name": "Sun coop", "members": [{"id": "m1", "name": "Alder farm"}]}],
        sites=[{"id": "site-a", "name": "Depot", "grid_limit_a": 32.0, "base_load_a": 4.0, "cooperative_id": "coop"}],
        parks=[
            {
                "id": "park-1",
                "member_id": "m1",
                "inverters": [{"id": "inv-1", "rated_power_w": 5000.0}, {"id": "inv-2", "rated_power_w": 5000.0}],
            }
        ],
    )
    async with running_platform(settings) as running:
        body = {"id": "t", "currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3}]}]}
        await running.store.accounts.put_tariff({"id": "t", "cooperative_id": "coop", "tariff": body})
        yield running


async def wait_until(condition: object, within_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def at(page: Any, route: str) -> None:
    """The page shows `route` (a hash route: the page does not load again)."""
    await page.wait_for_function(f"location.hash === {route!r}", timeout=15_000)


async def _telemetry(platform: Platform) -> None:
    """Two inverters reporting, as a native inverter does, so the parks tab has curves."""
    import json

    while True:
        ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        for index, inverter in enumerate(("inv-1", "inv-2")):
            payload = {"ts": ts, "ac_power_w": 1500.0 + 500 * index, "energy_wh": 1000.0}
            platform.bus.publish(f"coopgrid/solar/park-1/{inverter}/telemetry", json.dumps(payload), qos=1)
        await asyncio.sleep(0.5)


async def test_dashboard_sign_in_tabs_charger_page_and_commands(platform: Platform) -> None:
    chromium = require_binary("chromium", "/usr/bin/chromium")
    from playwright.async_api import async_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    clock = SimClock(datetime.now(UTC), speed=10.0)  # the platform's clock is the wall clock here
    charger = SimulatedChargePoint(
        "CP-A", platform.ocpp_url, clock=clock, id_tag="TAG-OK", ev_plan=[EVArrival(arrive_after_s=20.0)]
    )
    simulation = asyncio.create_task(charger.run())
    telemetry = asyncio.create_task(_telemetry(platform))
    from solar.accounting import Baseline

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)  # today, by the platform's clock
    minutes = {(f"park-1/inv-{n}", hour.replace(minute=m)): float(n) for n in (1, 2) for m in range(60)}
    await platform.store.energy.add_minutes(minutes, {"park-1/inv-1": Baseline(hour, 1000.0)}, [])
    console_errors: list[str] = []
    try:
        await wait_until(lambda: charger.connected)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console_errors.append(str(e)))

            # no session: the login page, at its own URL
            await page.goto(platform.http_url + "/#/chargers/CP-A")
            await at(page, "#/login")
            await page.fill("#login-token", "not-a-token")
            await page.click("#login-form button[type=submit]")
            await page.wait_for_function("document.getElementById('login-error').textContent.includes('token')")
            await page.screenshot(path=str(SCREENSHOTS / "login.png"))
            await page.fill("#login-token", OPERATOR_TOKEN)
            await page.click("#login-form button[type=submit]")
            await at(page, "#/chargers/CP-A")  # back where it was going
            cookies = await page.context.cookies()
            session = next(c for c in cookies if c["name"] == "coopgrid_session")
            assert session["httpOnly"] is True
            assert session["sameSite"] == "Strict"
            assert await page.evaluate("document.cookie") == ""  # no script sees it
            await page.wait_for_selector("#conn.live", timeout=10_000)
            assert "operator" in await page.inner_text("#who")

            # every tab: its own URL, its own content
            for tab in TABS:
                await page.click(f'#tabs a[data-tab="{tab}"]')
                await page.wait_for_url(f"**/#/{tab}")
                await page.wait_for_selector(f"#{tab}.tab.active")
                assert await page.get_attribute(f'#tabs a[data-tab="{tab}"]', "class") == "active"
                if tab == "chargers":
                    await page.wait_for_selector('#charger-rows tr[data-id="CP-A"]')
                if tab == "parks":
                    await page.wait_for_selector('[data-park-energy="park-1"] canvas', timeout=10_000)
                    stored = await page.evaluate("charts['park-energy-park-1'].data")
                    assert [round(sum(series), 1) for series in stored[1:]] == [60.0, 120.0]  # Wh, as stored
                    await page.wait_for_selector('[data-park-chart="park-1"] canvas', timeout=10_000)
                    legend = await page.inner_text('[data-park-chart="park-1"] .u-legend')
                    assert "inv-1" in legend
                    assert "inv-2" in legend
                if tab == "allocation":
                    await page.wait_for_selector('[data-site="site-a"]')
                    text = await page.inner_text('[data-site="site-a"]')
                    assert "grid limit 32.0 A" in text
                    assert "base load 4.0 A" in text
                    assert "headroom" in text
                    await page.wait_for_function(  # the planner's day ahead (plans are fetched every 10 s)
                        "document.querySelector('[data-site=\"site-a\"] .plan')"
                        ".textContent.includes('plan for the next')",
                        timeout=25_000,
                    )
                    # and as a chart of every slot (uPlot draws on a canvas; its legend names the series)
                    await page.wait_for_selector('[data-plan-chart="site-a"] canvas', timeout=10_000)
                    legend = await page.inner_text('[data-plan-chart="site-a"] .u-legend')
                    assert "grid import" in legend
                    assert "green into EVs" in legend
                if tab in ("report", "accounts"):
                    await page.wait_for_selector(f"#{tab}-summary:not(:empty)")
                await page.screenshot(path=str(SCREENSHOTS / f"tab-{tab}.png"), full_page=True)
            # a tab's URL opened afresh lands on that tab
            await page.goto(platform.http_url + "/#/allocation")
            await page.wait_for_selector("#allocation.tab.active")

            # the charger's own page: power, current, offered limit, profile, session, timeline, commands
            await page.click('#tabs a[data-tab="chargers"]')
            await page.click('#charger-rows tr[data-id="CP-A"] a')
            await at(page, "#/chargers/CP-A")
            await page.wait_for_selector("#charger.tab.active")
            await wait_until(lambda: any(k.transaction_id for k in charger.connectors.values()), 20)
            await page.wait_for_function(
                "!document.querySelector('#detail-connectors .power').textContent.includes('–')", timeout=15_000
            )
            assert "A" in await page.inner_text("#detail-connectors .current")
            await page.wait_for_function(
                "document.getElementById('detail-session').textContent.includes('TAG-OK')", timeout=15_000
            )
            await page.click('button[data-cmd="reset"]')
            await wait_until(lambda: charger.resets == ["Soft"])
            await page.wait_for_function("document.getElementById('cmd-result').textContent.includes('Accepted')")
            await page.fill("#cmd-limit", "8")
            await page.click('button[data-cmd="limit"]')
            await wait_until(lambda: charger.offered_limit_a() == 8.0)
            await wait_until(lambda: 0 < charger.drawn_current_a() <= 8.0)
            await page.wait_for_function(
                "document.querySelector('#detail-connectors .profile').textContent"
                ".includes('TxProfile 8.0 A: Accepted')"
            )
            await page.wait_for_function(
                "parseFloat(document.querySelector('#detail-connectors .power').textContent) > 0", timeout=15_000
            )
            timeline = await page.inner_text("#timeline")
            running = next(k.transaction_id for k in charger.connectors.values() if k.transaction_id)
            assert f"session {running} started" in timeline
            assert "limit:" in timeline
            assert "reset:" in timeline

            # its chart: a time axis, a tooltip under the cursor, drag to zoom, double-click to reset
            await page.wait_for_function("charts['charger-CP-A'] && charts['charger-CP-A'].data[0].length > 3")
            ticks = await page.evaluate("charts['charger-CP-A'].axes[0]._values")  # what the x axis shows
            assert ticks
            assert all(re.fullmatch(r"(\d\d-\d\d )?\d\d:\d\d(:\d\d)?", str(t)) for t in ticks), ticks
            over = page.locator("#charger-chart .u-over")
            box = await over.bounding_box()
            assert box is not None
            await page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
            await page.wait_for_selector("#tooltip:not([hidden])")
            tip = await page.inner_text("#tooltip")
            assert "Power:" in tip
            assert "Current:" in tip
            full = await page.evaluate("[charts['charger-CP-A'].scales.x.min, charts['charger-CP-A'].scales.x.max]")
            await page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + 20)
            await page.mouse.down()
            await page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 20, steps=5)
            await page.mouse.up()
            zoomed = await page.evaluate("[charts['charger-CP-A'].scales.x.min, charts['charger-CP-A'].scales.x.max]")
            assert full[0] < zoomed[0] < zoomed[1] < full[1]
            await page.screenshot(path=str(SCREENSHOTS / "charger-CP-A.png"), full_page=True)

            # sessions: duration, energy, power, green share; a row leads to its charger
            await page.click('#tabs a[data-tab="sessions"]')
            await page.wait_for_selector("#session-rows tr")
            await page.wait_for_function(  # once energy is metered: a green share (the list refreshes every 10 s)
                "document.querySelector('#session-rows tr').textContent.includes('%')", timeout=25_000
            )
            row = await page.inner_text("#session-rows tr")
            assert " kWh" in row
            assert " kW" in row
            assert "%" in row
            assert re.search(r"\d+ (s|min)", row)
            assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", row)  # no microseconds
            assert re.search(r"\d+\.\d\d EUR", row)  # its cost so far, at the site's tariff
            await page.screenshot(path=str(SCREENSHOTS / "tab-sessions-with-session.png"), full_page=True)

            # a phone-sized screen: nothing wider than the screen, the charger page still readable
            phone = await browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
            await phone.context.add_cookies(
                [{"name": session["name"], "value": session["value"], "url": platform.http_url}]
            )
            for where in (*(f"#/{tab}" for tab in TABS), "#/chargers/CP-A"):
                await phone.goto(platform.http_url + "/" + where)
                await phone.wait_for_selector("#conn.live", timeout=10_000)
                width = await phone.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, (where, width)
                name = where.strip("#/").replace("/", "-")
                await phone.screenshot(path=str(SCREENSHOTS / f"phone-{name}.png"), full_page=True)

            # sign out: the cookie is gone and the API says so
            await page.click("#logout")
            await at(page, "#/login")
            assert not [c for c in await page.context.cookies() if c["name"] == "coopgrid_session"]
            status = await page.evaluate("fetch('/api/chargepoints').then((r) => r.status)")
            assert status == 401
            await browser.close()
    finally:
        telemetry.cancel()
        simulation.cancel()
        await asyncio.gather(simulation, telemetry, return_exceptions=True)
    assert console_errors == [] or all("401" in e for e in console_errors), console_errors


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
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = await browser.new_page(accept_downloads=True)
            console_errors: list[str] = []
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            await page.goto(platform.http_url + "/#/report")
            await page.wait_for_selector("#report-rows tr")
            row = await page.inner_text("#report-rows tr")
            assert "Alder farm" in row
            assert "3.00 kWh" in row
            assert "1.20 kWh" in row
            assert "1.80 kWh" in row
            assert "40%" in row
            await page.wait_for_selector("#report-bars rect")
            await page.wait_for_selector("#park-energy canvas")
            async with page.expect_download() as download_info:
                await page.click("#report-csv")
            download = await download_info.value
            csv_text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
            assert "m1,Alder farm,park-1,3.0,1.2,1.8" in csv_text
            await page.screenshot(path=str(SCREENSHOTS / "report-from-sql.png"), full_page=True)
            await browser.close()
    assert console_errors == []
