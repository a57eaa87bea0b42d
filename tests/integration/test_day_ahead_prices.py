"""Day-ahead prices through entsoe-py and nordpool against test doubles of their APIs on 127.0.0.1: the
clients' endpoints follow the settings, the prices reach the planner's slots with the tariff's markups, a
source that fails keeps what was fetched and the file stands in; the MQTT price feed's parser (hypothesis);
a session's grid energy priced at the planner's prices."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from gateway.planner_settings import PlannerSettings
from gateway.planning_feeds import PlannerFeeds, read_series
from gateway.prices import DayAheadPrices, PriceMessages
from gateway.settings import ConfigError, load_settings
from tests.fixtures.platform import make_settings, running_platform
from tests.integration.test_energy_truth import charger, meter

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def entsoe_document(start: datetime, end: datetime) -> str:
    """An A44 Publication_MarketDocument: 15-minute prices, 40 EUR/MWh plus the quarter's position in the day."""
    points = []
    position, ts = 1, start
    while ts < end:
        quarter = ts.hour * 4 + ts.minute // 15
        points.append(f"<Point><position>{position}</position><price.amount>{40 + quarter}.00</price.amount></Point>")
        position, ts = position + 1, ts + timedelta(minutes=15)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Publication_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3">'
        "<mRID>doc</mRID><type>A44</type><TimeSeries><mRID>1</mRID><businessType>A62</businessType>"
        "<currency_Unit.name>EUR</currency_Unit.name><price_Measure_Unit.name>MWH</price_Measure_Unit.name>"
        "<curveType>A01</curveType><Period><timeInterval>"
        f"<start>{start:%Y-%m-%dT%H:%MZ}</start><end>{end:%Y-%m-%dT%H:%MZ}</end></timeInterval>"
        f"<resolution>PT15M</resolution>{''.join(points)}</Period></TimeSeries></Publication_MarketDocument>"
    )


NO_DATA = (
    "<Acknowledgement_MarketDocument><Reason><code>999</code>"
    "<text>No matching data found for Data item Day-ahead Prices</text></Reason></Acknowledgement_MarketDocument>"
)


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def entsoe_double(requests_seen: list[dict[str, str]], *, fail: bool = False) -> web.Application:
    async def api(request: web.Request) -> web.Response:
        query = dict(request.query)
        requests_seen.append(query)
        if fail:
            return web.Response(status=503, text="maintenance")
        if query.get("securityToken") != "token-1" or query.get("documentType") != "A44":
            return web.Response(status=401, text="<text>Unauthorized</text>")
        if query.get("offset", "0") != "0":
            return web.Response(status=400, text=NO_DATA, content_type="application/xml")
        start = datetime.strptime(query["periodStart"], "%Y%m%d%H%M").replace(tzinfo=UTC)
        end = datetime.strptime(query["periodEnd"], "%Y%m%d%H%M").replace(tzinfo=UTC)
        return web.Response(text=entsoe_document(start, end), content_type="application/xml")

    app = web.Application()
    app.router.add_get("/api", api)
    return app


def nordpool_double(requests_seen: list[dict[str, str]]) -> web.Application:
    async def indices(request: web.Request) -> web.Response:
        query = dict(request.query)
        requests_seen.append(query)
        day = date.fromisoformat(query["date"])
        if day > NOW.date() + timedelta(days=1) or query.get("resolutionInMinutes") != "15":
            return web.Response(status=204)
        start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        entries = [
            {
                "deliveryStart": (start + timedelta(minutes=15 * k)).isoformat().replace("+00:00", "Z"),
                "deliveryEnd": (start + timedelta(minutes=15 * (k + 1))).isoformat().replace("+00:00", "Z"),
                "entryPerArea": {query["indexNames"]: 100.0 + k},
            }
            for k in range(96)
        ]
        body = {"currency": "EUR", "updatedAt": NOW.isoformat(), "multiIndexEntries": entries}
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/api/DayAheadPriceIndices", indices)
    return app


def feeds(settings: PlannerSettings, day_ahead: DayAheadPrices | None, **kwargs: object) -> PlannerFeeds:
    return PlannerFeeds(settings, clock=lambda: NOW, scheduler_clock=lambda: 0.0, day_ahead=day_ahead, **kwargs)  # type: ignore[arg-type]


async def test_entsoe_through_entsoe_py_at_the_configured_endpoint() -> None:
    seen: list[dict[str, str]] = []
    async with serve(entsoe_double(seen)) as base:
        settings = PlannerSettings(
            day_ahead="entsoe", day_ahead_area="NL", entsoe_url=f"{base}/api", entsoe_token="token-1",
            import_markup_eur_per_kwh=0.10, import_vat=0.21, export_markup_eur_per_kwh=0.01,
        )  # fmt: skip
        prices = DayAheadPrices(settings, lambda: NOW)
        assert await prices.refresh(), prices.last_error
    assert seen
    assert all(q["in_Domain"] == "10YNL----------L" for q in seen)
    quarter = NOW.hour * 4
    imports, exports = feeds(settings, prices).prices(0.0, 900.0, 4) or ([], [])
    spot = [(40 + quarter + k) / 1000 for k in range(4)]
    assert imports == pytest.approx([(s + 0.10) * 1.21 for s in spot])
    assert exports == pytest.approx([s - 0.01 for s in spot])


async def test_nordpool_through_nordpool_at_the_configured_endpoint_and_a_failure_keeps_the_file(
    tmp_path: Path,
) -> None:
    seen: list[dict[str, str]] = []
    async with serve(nordpool_double(seen)) as base:
        settings = PlannerSettings(day_ahead="nordpool", day_ahead_area="SE3", nordpool_url=f"{base}/api")
        prices = DayAheadPrices(settings, lambda: NOW)
        assert await prices.refresh(), prices.last_error
    assert {q["indexNames"] for q in seen} == {"SE3"}
    assert [q["date"] for q in seen] == [NOW.date().isoformat(), (NOW.date() + timedelta(days=1)).isoformat()]
    imports, _ = feeds(settings, prices).prices(0.0, 900.0, 2) or ([], [])
    assert imports == pytest.approx([(100 + NOW.hour * 4 + k) / 1000 for k in range(2)])

    # the source fails now: what was fetched stands; nothing fetched at all: the file, then the flat price
    async with serve(entsoe_double([], fail=True)) as base:
        failing = PlannerSettings(day_ahead="entsoe", day_ahead_area="NL", entsoe_url=f"{base}/api",
                                  entsoe_token="token-1", import_eur_per_kwh=0.33)  # fmt: skip
        broken = DayAheadPrices(failing, lambda: NOW)
        assert not await broken.refresh()
        assert "ENTSO-E (NL)" in (broken.last_error or "")
    file = tmp_path / "prices.csv"
    file.write_text(f"{NOW.isoformat()},0.05,0.01\n{(NOW + timedelta(minutes=15)).isoformat()},0.06,0.01\n")
    offline = feeds(failing, broken, prices_file=read_series(file, "planner.prices_csv", 2))
    imports, _ = offline.prices(0.0, 900.0, 3) or ([], [])
    assert imports == pytest.approx([0.05, 0.06, 0.33])


async def test_the_mqtt_price_feed_replaces_the_file_and_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    messages = PriceMessages("coopgrid/prices/site-a")
    await messages.handle(messages.topic, b"\xff\xfe")
    await messages.handle(messages.topic, b"2026-06-01T00:00:00Z,0.2\n")  # a column short
    assert (messages.accepted, messages.rejects) == (0, 2)
    await messages.handle(messages.topic, f"{NOW.isoformat()},0.07,0.02\n".encode())
    imports, exports = feeds(PlannerSettings(), None, messages=messages).prices(0.0, 900.0, 1) or ([], [])
    assert (imports, exports) == ([0.07], [0.02])


@given(payload=st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
async def test_any_price_message_is_taken_or_counted(payload: bytes) -> None:
    messages = PriceMessages("t")
    await messages.handle("t", payload)
    assert messages.accepted + messages.rejects == 1
    assert (messages.series is not None) == (messages.accepted == 1)


def test_day_ahead_settings_name_their_field() -> None:
    with pytest.raises(ConfigError, match="day_ahead_area"):
        load_settings(planner={"day_ahead": "nordpool"})
    with pytest.raises(ConfigError, match="entsoe_token"):
        load_settings(planner={"day_ahead": "entsoe", "day_ahead_area": "NL"})
    assert json.loads(PlannerSettings(day_ahead="nordpool", day_ahead_area="NL").model_dump_json())["day_ahead"]


async def test_a_sessions_grid_energy_is_priced_at_the_planners_price(tmp_path: Path) -> None:
    start = (datetime.now(UTC) - timedelta(minutes=40)).replace(second=0, microsecond=0)
    start = start.replace(minute=start.minute - start.minute % 15)
    file = tmp_path / "prices.csv"
    file.write_text(f"{(start - timedelta(hours=1)).isoformat()},0.25,0.0\n{start.isoformat()},0.50,0.0\n"
                    f"{(start + timedelta(minutes=15)).isoformat()},0.10,0.0\n")  # fmt: skip
    settings = make_settings(
        tmp_path,
        planner={"prices_csv": str(file)},
        cooperatives=[{"id": "coop", "members": [{"id": "m1"}]}],
        sites=[{"id": "site-a", "grid_limit_a": 32.0, "cooperative_id": "coop"}],
    )
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        async with charger(http, platform.ocpp_url, "CP-A") as call:
            begin = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": start.isoformat()}
            tx = (await call("s", "StartTransaction", begin))["transactionId"]
            await call("m", "MeterValues", meter(tx, start + timedelta(minutes=15), 1000.0))  # 1 kWh at 0.50
            await call("n", "MeterValues", meter(tx, start + timedelta(minutes=30), 3000.0))  # 2 kWh at 0.10
            stop = (start + timedelta(minutes=30)).isoformat()
            await call("t", "StopTransaction", {"transactionId": tx, "meterStop": 3000, "timestamp": stop})
        await platform.energy.flush(final=True)
        async with http.get(f"{platform.http_url}/api/sessions/{tx}") as response:
            session = await response.json()
        period = f"from={(start - timedelta(hours=1)).isoformat()}&to={(start + timedelta(hours=2)).isoformat()}"
        async with http.get(f"{platform.http_url}/api/cooperatives/coop/report?{period.replace('+', '%2B')}") as r:
            report = await r.json()
    assert session["green_energy_wh"] == 0.0  # no sun: all of it from the grid
    assert session["grid_cost_eur"] == pytest.approx(1 * 0.50 + 2 * 0.10)
    assert report["grid"] == {"ev_grid_kwh": pytest.approx(3.0), "ev_grid_cost_eur": pytest.approx(0.70)}
