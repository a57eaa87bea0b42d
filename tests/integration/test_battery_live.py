"""A simulated battery over a real Mosquitto against a running platform, in the native and in Victron's
layout: its telemetry reaches the planner (the plan starts from the measured state of charge) and the API,
and the plan's setpoint reaches the battery, which follows it (and says so in its telemetry)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from simulators.battery import BatteryModel, SimulatedBattery
from simulators.clock import SimClock
from tests.fixtures.platform import make_settings, running_platform

pytestmark = pytest.mark.integration

VICTRON = "N/c0ffee000001/battery/512"


async def until(check: Callable[[], Any], what: str, timeout_s: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = await check() if asyncio.iscoroutinefunction(check) else check()
        if value:
            return value
        assert loop.time() < deadline, what
        await asyncio.sleep(0.1)


def cheap_now(path: Path) -> Path:
    """Grid energy at 0.01 EUR/kWh for the next half hour, 0.40 after: a plan fills the battery now."""
    now = datetime.now(UTC)
    start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) - timedelta(minutes=15)
    rows = [f"{(start + timedelta(minutes=15 * k)).isoformat()},{0.01 if k < 4 else 0.40},0.0" for k in range(200)]
    path.write_text("timestamp,import_eur_per_kwh,export_eur_per_kwh\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("layout", ["native", "victron"])
async def test_telemetry_reaches_the_plan_and_the_setpoint_reaches_the_battery(
    tmp_path: Path, mosquitto: tuple[str, int], layout: str
) -> None:
    host, port = mosquitto
    battery: dict[str, Any] = {"id": "bat-1", "site_id": "site-a", "capacity_kwh": 20, "power_kw": 5,
                               "soc_start": 0.3, "layout": layout, "timeout_s": 10}  # fmt: skip
    if layout == "victron":
        battery["topic"] = VICTRON
    settings = make_settings(
        tmp_path,
        mqtt={"url": f"mqtt://{host}:{port}", "client_id": f"coopgrid-battery-{layout}"},
        planner={"replan_s": 30, "prices_csv": str(cheap_now(tmp_path / "prices.csv"))},
        batteries=[battery],
    )
    model = BatteryModel(capacity_wh=20_000, max_charge_w=5000, max_discharge_w=5000, soc=0.8)
    sim = SimulatedBattery(
        host, port, model, SimClock(datetime.now(UTC)), battery_id="bat-1", site_id="site-a", layout=layout,
        publish_interval_s=0.2,
    )  # fmt: skip
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        running = asyncio.create_task(sim.run())
        try:

            async def plan() -> dict[str, Any]:
                async with http.get(f"{platform.http_url}/api/sites/site-a/plan") as response:
                    assert response.status == 200
                    view = dict(await response.json())
                batteries = view.get("batteries") or [{}]
                return batteries[0] if batteries[0].get("soc_source") == "measured" else {}

            planned = await until(plan, "a plan from the measured state of charge")
            assert planned["soc"][0] == pytest.approx(0.8, abs=0.01)  # not the configured 0.3
            assert planned["telemetry"]["state"] == "online"
            assert planned["telemetry"]["layout"] == layout
            assert planned["charge_wh"][0] > 1000  # cheap now: full power in the first slot
            await until(lambda: sim.setpoints > 0 and model.setpoint_w > 4000, "the setpoint at the battery")
            assert model.setpoint_w == pytest.approx(5000.0, rel=0.01)
            # the battery follows it, and its telemetry says so
            view = await until(
                lambda: (v := platform.battery_telemetry.view("bat-1")) and (v["power_w"] or 0) > 4000 and v,
                "the battery charging, as its telemetry says",
            )
            assert view["soc"] >= 0.8
            assert (await plan())["setpoint_w"] == pytest.approx(5000.0, rel=0.01)
            assert sim.refused == 0
            assert platform.battery_telemetry.rejects == {}
            async with http.get(f"{platform.http_url}/metrics") as response:
                metrics = await response.text()
            assert 'coopgrid_battery_soc{battery="bat-1"} 0.8' in metrics
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
