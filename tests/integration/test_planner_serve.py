"""The planner in `coopgrid serve`: [planner] settings, the CSV feeds, a battery, GET /api/sites/{id}/plan."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.planning_feeds import FeedError
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.ocpp_client import Client, server_call_answer


def hourly_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


async def answer_calls(client: Client, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            message = await client.ws.receive(timeout=0.2)
        except TimeoutError:
            continue
        frame = json.loads(message.data)
        if frame[0] == 2:
            await client.ws.send_str(json.dumps([3, frame[1], server_call_answer(frame)]))


async def test_serve_plans_a_departure_with_the_file_feeds_and_shows_the_plan(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [now + timedelta(hours=h) for h in range(-1, 40)]
    # sun from three hours on; cheap grid in hours 1-2
    sun = [f"{t.isoformat()},{20000 if 3 <= i - 1 < 8 else 0}" for i, t in enumerate(hours)]
    forecast = hourly_csv(tmp_path / "forecast.csv", "timestamp,power_w", sun)
    prices = hourly_csv(
        tmp_path / "prices.csv",
        "timestamp,import_eur_per_kwh,export_eur_per_kwh",
        [f"{t.isoformat()},{0.05 if 1 <= i - 1 < 3 else 0.40},0.02" for i, t in enumerate(hours)],
    )
    settings = make_settings(
        tmp_path,
        planner={"slot_s": 900, "replan_s": 60, "forecast_csv": str(forecast), "prices_csv": str(prices)},
        batteries=[{"id": "bat-a", "site_id": "site-a", "capacity_kwh": 20, "power_kw": 5, "soc_start": 0.5}],
    )
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        base = platform.http_url

        async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            async with http.request(method, base + path, json=body) as response:
                text = await response.text()
                return response.status, json.loads(text) if text else None

        async with http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws:
            client = Client(ws)
            boot = await client.call("b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
            assert boot[2]["status"] == "Accepted"
            start = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": datetime.now(UTC).isoformat()}
            transaction_id = (await client.call("s", "StartTransaction", start))[2]["transactionId"]
            stop = asyncio.Event()
            answering = asyncio.create_task(answer_calls(client, stop))
            leaving = (datetime.now(UTC) + timedelta(hours=10)).replace(microsecond=0)
            body = {"mode": "departure", "energy_wh": 30000, "departure": leaving.isoformat()}
            assert (await call("PUT", f"/api/sessions/{transaction_id}/mode", body))[0] == 200
            plan: dict[str, Any] = {}
            for _ in range(100):
                status, plan = await call("GET", "/api/sites/site-a/plan")
                assert status == 200
                if plan["planned"] and plan["sessions"] and sum(plan["sessions"][0]["energy_wh"]) > 29_000:
                    break
                await asyncio.sleep(0.1)
            stop.set()
            await answering
        assert plan["planned"], plan
        assert plan["slot_s"] == 900
        assert plan["quantile"] == 0.2
        slot_prices = [s["import_eur_per_kwh"] for s in plan["slots"]]
        assert min(slot_prices) == pytest.approx(0.05)  # the file's prices (a slot across two rows: their mean)
        assert max(slot_prices) == pytest.approx(0.40)
        bought = sum(s["import_wh"] * s["import_eur_per_kwh"] - s["export_wh"] * s["export_eur_per_kwh"]
                     for s in plan["slots"]) / 1000  # fmt: skip
        assert plan["cost_eur"] == pytest.approx(bought, abs=0.01)
        assert len(plan["slots"]) == 96
        (session,) = plan["sessions"]
        assert session["charge_point_id"] == "CP-A"
        assert sum(session["energy_wh"]) == pytest.approx(30_000, abs=5)
        assert session["shortfall_wh"] == 0
        # green counted on where the file forecasts sun; the grid part bought in the cheap hours
        grid_by_hour = [sum(session["grid_wh"][4 * h : 4 * h + 4]) for h in range(10)]
        assert grid_by_hour[1] + grid_by_hour[2] == pytest.approx(max(sum(grid_by_hour) - 100, 0), abs=150)
        assert sum(s["green_ev_wh"] for s in plan["slots"]) > 5_000
        (battery,) = plan["batteries"]
        assert battery["id"] == "bat-a"
        assert len(battery["soc"]) == 97
        assert all(s["max_phase_a"] <= 32.0 + 1e-6 for s in plan["slots"])
        assert (await call("GET", "/api/sites/nowhere/plan"))[0] == 404
        status, document = await call("GET", "/api/openapi.json")
        assert "/api/sites/{site_id}/plan" in document["paths"]


async def test_an_unreadable_feed_stops_the_start_naming_the_setting(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, planner={"forecast_csv": str(tmp_path / "missing.csv")})
    with pytest.raises(FeedError, match=r"planner\.forecast_csv: cannot read"):
        async with running_platform(settings):
            pass
