"""Issue 15 against a running platform: what a session, /api/live and the report say about energy.

- a charger reporting energy registers but no power, with no solar at all, charges 0 % green;
- a charger that disconnects is offline at once: its power leaves the live totals, its last connector
  status is kept and marked stale;
- "today" in /api/live equals the report for today.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from tests.fixtures.platform import make_settings, running_platform

Call = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]


@asynccontextmanager
async def charger(
    http: aiohttp.ClientSession, ocpp_url: str, cp_id: str, received: list[list[Any]] | None = None
) -> AsyncIterator[Call]:
    async with http.ws_connect(f"{ocpp_url}/{cp_id}", protocols=("ocpp1.6",)) as ws:

        async def call(unique_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
            await ws.send_str(json.dumps([2, unique_id, action, payload]))
            while True:
                frame = json.loads(await ws.receive_str(timeout=5))
                if frame[0] == 3 and frame[1] == unique_id:
                    return dict(frame[2])
                if frame[0] == 2:  # the central system's own calls: accepted
                    if received is not None:
                        received.append(frame)
                    await ws.send_str(json.dumps([3, frame[1], {"status": "Accepted"}]))

        await call("boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        yield call


def meter(tx: int, ts: datetime, energy_wh: float, power_w: float | None = None) -> dict[str, Any]:
    sampled = [{"value": f"{energy_wh}", "unit": "Wh", "measurand": "Energy.Active.Import.Register"}]
    if power_w is not None:
        sampled.append({"value": f"{power_w}", "unit": "W", "measurand": "Power.Active.Import"})
    return {
        "connectorId": 1,
        "transactionId": tx,
        "meterValue": [{"timestamp": ts.isoformat(), "sampledValue": sampled}],
    }


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_energy_without_power_and_without_solar_is_not_green(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        async with charger(http, platform.ocpp_url, "CP-A") as call:
            begin = (now - timedelta(minutes=5)).isoformat()
            started = await call(
                "s", "StartTransaction", {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": begin}
            )  # fmt: skip
            tx = started["transactionId"]
            await call("m", "MeterValues", meter(tx, now - timedelta(minutes=3), 250.0))
            await call("t", "StopTransaction", {"transactionId": tx, "meterStop": 500, "timestamp": now.isoformat()})
        await platform.energy.flush(final=True)
        async with http.get(f"{platform.http_url}/api/sessions/{tx}") as response:
            session = await response.json()
    assert session["energy_wh"] == 500.0
    assert session["green_energy_wh"] == 0.0
    assert session["green_share"] == 0.0
    assert session["energy_source"] == "register"


async def test_a_charger_that_leaves_is_offline_at_once_and_its_power_leaves_the_totals(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:

        async def live() -> dict[str, Any]:
            async with http.get(f"{platform.http_url}/api/live") as response:
                return dict(await response.json())

        async with charger(http, platform.ocpp_url, "CP-A") as call:
            await call("st", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"})
            begin = now.isoformat()
            started = await call(
                "s", "StartTransaction", {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": begin}
            )  # fmt: skip
            await call("m", "MeterValues", meter(started["transactionId"], now + timedelta(seconds=10), 20.0, 7000.0))
            snap = await live()
            assert snap["ev_w"] == 7000.0
            assert snap["chargers_by_status"] == {"Charging": 1, "Offline": 1}  # CP-B never came
        await wait_for(lambda: _ev_w_is_zero(live))
        snap = await live()
        view = next(c for c in snap["chargers"] if c["id"] == "CP-A")
    assert snap["chargers_by_status"] == {"Offline": 2}
    assert view["connected"] is False
    connector = view["connectors"]["1"]
    assert {k: connector[k] for k in ("status", "stale", "power_w", "current_a")} == {
        "status": "Charging",
        "stale": True,
        "power_w": None,  # offline: nothing drawn that we know of
        "current_a": None,
    }
    assert connector["metered"] is not None  # when it last said
    assert view["managed"] is True


async def _ev_w_is_zero(live: Callable[[], Awaitable[dict[str, Any]]]) -> bool:
    return (await live())["ev_w"] == 0.0


async def test_live_today_equals_the_report_for_today(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        cooperatives=[{"id": "coop", "members": [{"id": "m1"}]}],
        parks=[{"id": "park-1", "member_id": "m1", "inverters": [{"id": "inv-1", "rated_power_w": 10_000.0}]}],
    )
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=6) if now.hour or now.minute >= 6 else now
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        platform.energy.solar.minutes.counter("park-1/inv-1", start, 1000.0)
        platform.energy.solar.minutes.counter("park-1/inv-1", start + timedelta(minutes=4), 1400.0)  # 100 Wh a minute
        async with charger(http, platform.ocpp_url, "CP-A") as call:
            begin = start.isoformat()
            started = await call(
                "s", "StartTransaction", {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": begin}
            )  # fmt: skip
            await call("m", "MeterValues", meter(started["transactionId"], start + timedelta(minutes=4), 600.0, 9000.0))
        await platform.energy.flush(final=True)
        async with http.get(f"{platform.http_url}/api/live") as response:
            today = (await response.json())["today"]
        async with http.get(f"{platform.http_url}/api/cooperatives/coop/report") as response:
            report = await response.json()
    assert today["solar_wh"] == 400.0
    assert today["green_wh"] == 400.0
    assert today["ev_wh"] == 600.0
    assert report["generated_kwh"] == today["solar_wh"] / 1000
    assert report["to_evs_kwh"] == today["green_wh"] / 1000


async def test_a_charger_on_no_site_is_held_at_the_unmanaged_limit_and_says_so(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    received: list[list[Any]] = []
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        async with charger(http, platform.ocpp_url, "CP-STRAY", received) as call:
            for _ in range(40):  # the profile follows the boot reply
                await call(f"h{_}", "Heartbeat", {})
                if any(f[2] == "SetChargingProfile" for f in received):
                    break
            async with http.get(f"{platform.http_url}/api/chargepoints/CP-STRAY") as response:
                view = await response.json()
            async with http.get(f"{platform.http_url}/api/chargepoints/CP-A") as response:
                managed = await response.json()
    profiles = [f[3] for f in received if f[2] == "SetChargingProfile"]
    assert profiles, received
    schedule = profiles[0]["csChargingProfiles"]["chargingSchedule"]
    assert schedule["chargingSchedulePeriod"][0]["limit"] == 6.0
    assert view["managed"] is False
    assert managed["managed"] is True


async def test_today_survives_a_restart(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        cooperatives=[{"id": "coop", "members": [{"id": "m1"}]}],
        parks=[{"id": "park-1", "member_id": "m1", "inverters": [{"id": "inv-1", "rated_power_w": 10_000.0}]}],
    )
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=6) if now.hour or now.minute >= 6 else now
    green = [("park-1", start, 30.0, 50.0)]
    async with running_platform(settings) as platform:
        from solar.accounting import Baseline

        await platform.store.energy.add_minutes(
            {("park-1/inv-1", start): 80.0}, {"park-1/inv-1": Baseline(start, 1080.0)}, green
        )
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        async with http.get(f"{platform.http_url}/api/live") as response:
            today = (await response.json())["today"]
    assert today["solar_wh"] == 80.0
    assert today["green_wh"] == 30.0
