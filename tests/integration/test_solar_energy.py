"""Exact solar energy in SQL through a real Mosquitto, across a restart of CoopGrid mid-stream.

An inverter publishes its lifetime counter (native layout, QoS 1) every
15 simulated seconds. CoopGrid is stopped in the middle; the inverter keeps
publishing; the broker keeps those messages for CoopGrid's persistent session
and delivers them when it comes back. Afterwards, every minute of the stream
has its interval in SQL and the intervals add up to the counter's rise,
exactly; the cooperative report (JSON and CSV) says the same.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import aiomqtt
import pytest

from gateway.platform import Platform
from gateway.storage import open_store
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.platform import make_settings, running_platform

pytestmark = pytest.mark.integration

_NOW = datetime.now(UTC)
START = _NOW.replace(minute=_NOW.minute - _NOW.minute % 15, second=0, microsecond=0) - timedelta(hours=3)
STEP_S = 15.0
POWER_W = {"inv-1": 4000.0, "inv-2": 2400.0}


class Inverters:
    def __init__(self) -> None:
        self.n = 0
        self.energy = {"inv-1": 50_000.0, "inv-2": 80_000.0}
        self.first = dict(self.energy)

    def ts(self) -> datetime:
        return START + timedelta(seconds=STEP_S * self.n)

    async def publish(self, host: str, port: int, count: int) -> None:
        async with aiomqtt.Client(host, port, identifier="energy-test-inverters") as client:
            for _ in range(count):
                if self.n:
                    for inv, watts in POWER_W.items():
                        self.energy[inv] += watts * STEP_S / 3600
                for inv, watts in POWER_W.items():
                    payload = {"ts": self.ts().isoformat(), "ac_power_w": watts, "energy_wh": self.energy[inv]}
                    await client.publish(f"coopgrid/solar/park-1/{inv}/telemetry", json.dumps(payload), qos=1)
                self.n += 1


async def caught_up(platform: Platform, inverters: Inverters) -> None:
    """Until the ingest has taken every published reading (its baselines reached the last one)."""
    last = inverters.ts() - timedelta(seconds=STEP_S)
    for _ in range(200):
        baselines = platform.solar.minutes.baselines()
        if all(key in baselines and baselines[key].ts >= last for key in ("park-1/inv-1", "park-1/inv-2")):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"ingest did not catch up to {last}: {platform.solar.minutes.baselines()}")


async def test_no_minute_lost_across_a_restart_and_the_report_adds_up(
    tmp_path: Path, mosquitto_broker: Mosquitto
) -> None:
    host, port = mosquitto_broker.host, mosquitto_broker.port
    settings = make_settings(
        tmp_path,
        mqtt={"url": f"mqtt://{host}:{port}", "client_id": "coopgrid-energy-test"},
        cooperatives=[{"id": "coop", "name": "Sun coop", "members": [{"id": "m1", "name": "Alder farm"}]}],
        parks=[
            {
                "id": "park-1",
                "member_id": "m1",
                "inverters": [{"id": "inv-1", "rated_power_w": 5000.0}, {"id": "inv-2", "rated_power_w": 3000.0}],
            }
        ],
    )
    inverters = Inverters()
    async with running_platform(settings) as platform:
        await asyncio.sleep(0.5)  # subscribed
        await inverters.publish(host, port, 120)  # 30 minutes
        await caught_up(platform, inverters)
    await inverters.publish(host, port, 120)  # while CoopGrid is down: kept by the broker for its session
    async with running_platform(settings) as platform:
        await inverters.publish(host, port, 120)
        await caught_up(platform, inverters)
        # the 120 readings of each inverter published while CoopGrid was down came too (persistent session)
        assert platform.solar.accepted == 2 * 240
        await platform.flush_energy()
        window = (
            f"from={START.isoformat().replace('+00:00', 'Z')}&to={inverters.ts().isoformat().replace('+00:00', 'Z')}"
        )
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{platform.http_url}/api/cooperatives/coop/report?{window}") as response:
                report = await response.json()
            async with http.get(f"{platform.http_url}/api/cooperatives/coop/report?{window}&format=csv") as response:
                assert response.headers["Content-Type"].startswith("text/csv")
                rows = list(csv.reader(io.StringIO(await response.text())))
            async with http.get(f"{platform.http_url}/api/parks/park-1/energy?{window}&bucket=15min") as response:
                series = (await response.json())["series"]

    rise_wh = sum(inverters.energy[i] - inverters.first[i] for i in POWER_W)
    async with open_store(settings.database.url) as store:
        minutes = await store.park_minutes("park-1", START, inverters.ts())
    stamps = [m for m, _, _ in minutes]
    expected = [START + timedelta(minutes=k) for k in range(int(360 * STEP_S // 60))]  # the last one partial
    assert stamps == expected  # not one minute missing, none extra
    assert sum(wh for _, wh, _ in minutes) == pytest.approx(rise_wh, abs=1e-6)
    per_minute = sum(POWER_W.values()) / 60
    assert all(wh == pytest.approx(per_minute) for _, wh, _ in minutes[:-1])

    assert report["generated_kwh"] == pytest.approx(rise_wh / 1000, abs=0.001)
    assert report["to_evs_kwh"] == 0.0
    assert report["exported_kwh"] == report["generated_kwh"]
    assert report["members"][0]["parks"][0]["id"] == "park-1"
    assert rows[0] == ["member_id", "member_name", "park_id", "generated_kwh", "to_evs_kwh", "exported_kwh"]
    assert rows[1][:3] == ["m1", "Alder farm", "park-1"]
    assert float(rows[1][3]) == pytest.approx(rise_wh / 1000, abs=0.001)
    assert sum(p["generated_wh"] for p in series) == pytest.approx(rise_wh, abs=0.01)
    assert all(p["generated_wh"] == pytest.approx(per_minute * 15) for p in series[:-1])
