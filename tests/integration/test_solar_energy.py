"""Exact solar energy in SQL through a real Mosquitto, across a restart of CoopGrid mid-stream.

An inverter publishes its lifetime counter (native layout, QoS 1) every
15 simulated seconds. CoopGrid is stopped in the middle; the inverter keeps
publishing; the broker keeps those messages for CoopGrid's persistent session
and delivers them when it comes back. Afterwards, every minute of the stream
has its interval in SQL and the intervals add up to the counter's rise,
exactly; the cooperative report (JSON and CSV) says the same. With two
instances on PostgreSQL, the one that takes over the writing from a stopped
leader continues exactly where it left off.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.platform import Platform
from gateway.settings import Settings
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


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite, and PostgreSQL (where only the scheduler's leader writes the intervals) in a fresh database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'coopgrid.db'}"
    server = request.getfixturevalue("postgres_url")
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f"CREATE DATABASE {name}"))
    await engine.dispose()
    return server.rsplit("/", 1)[0] + f"/{name}"


def energy_settings(
    tmp_path: Path, broker: Mosquitto, database_url: str, instance: str = "a", share_group: str | None = None
) -> Settings:
    return make_settings(
        tmp_path,
        instance_id=instance,
        database={"url": database_url},
        mqtt={
            "url": f"mqtt://{broker.host}:{broker.port}",
            "client_id": f"coopgrid-energy-test-{instance}",
            "share_group": share_group,
        },
        cooperatives=[{"id": "coop", "name": "Sun coop", "members": [{"id": "m1", "name": "Alder farm"}]}],
        parks=[
            {
                "id": "park-1",
                "member_id": "m1",
                "inverters": [{"id": "inv-1", "rated_power_w": 5000.0}, {"id": "inv-2", "rated_power_w": 3000.0}],
            }
        ],
    )


async def stored_minutes(database_url: str, inverters: Inverters) -> list[tuple[datetime, float, float]]:
    async with open_store(database_url) as store:
        return await store.energy.park_minutes("park-1", START, inverters.ts())


def assert_exact(minutes: list[tuple[datetime, float, float]], inverters: Inverters) -> float:
    """Every minute of the stream once, each with the energy of a minute, all adding up to the counters' rise."""
    rise_wh = sum(inverters.energy[i] - inverters.first[i] for i in POWER_W)
    expected = [START + timedelta(minutes=k) for k in range(int((inverters.n - 1) * STEP_S // 60) + 1)]
    assert [m for m, _, _ in minutes] == expected  # not one minute missing, none extra (the last one partial)
    assert sum(wh for _, wh, _ in minutes) == pytest.approx(rise_wh, abs=1e-6)
    assert all(wh == pytest.approx(sum(POWER_W.values()) / 60) for _, wh, _ in minutes[:-1])
    return rise_wh


async def test_no_minute_lost_across_a_restart_and_the_report_adds_up(
    tmp_path: Path, mosquitto_broker: Mosquitto, database_url: str
) -> None:
    host, port = mosquitto_broker.host, mosquitto_broker.port
    settings = energy_settings(tmp_path, mosquitto_broker, database_url)
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
        await platform.energy.flush()
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

    rise_wh = assert_exact(await stored_minutes(database_url, inverters), inverters)
    assert inverters.n == 360
    per_minute = sum(POWER_W.values()) / 60

    assert report["generated_kwh"] == pytest.approx(rise_wh / 1000, abs=0.001)
    assert report["to_evs_kwh"] == 0.0
    assert report["exported_kwh"] == report["generated_kwh"]
    assert report["members"][0]["parks"][0]["id"] == "park-1"
    assert rows[0] == ["member_id", "member_name", "park_id", "generated_kwh", "to_evs_kwh", "exported_kwh"]
    assert rows[1][:3] == ["m1", "Alder farm", "park-1"]
    assert float(rows[1][3]) == pytest.approx(rise_wh / 1000, abs=0.001)
    assert sum(p["generated_wh"] for p in series) == pytest.approx(rise_wh, abs=0.01)
    assert all(p["generated_wh"] == pytest.approx(per_minute * 15) for p in series[:-1])


async def test_a_follower_taking_over_the_writing_continues_exactly(
    tmp_path: Path, mosquitto_broker: Mosquitto, postgres_url: str
) -> None:
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(postgres_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f"CREATE DATABASE {name}"))
    await engine.dispose()
    database_url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    host, port = mosquitto_broker.host, mosquitto_broker.port
    inverters = Inverters()
    leading: Any = running_platform(energy_settings(tmp_path / "a", mosquitto_broker, database_url, "a"))
    leader = await leading.__aenter__()
    try:
        for _ in range(100):
            if leader.leader:
                break
            await asyncio.sleep(0.05)
        assert leader.leader
        async with running_platform(energy_settings(tmp_path / "b", mosquitto_broker, database_url, "b")) as follower:
            assert not follower.leader
            await asyncio.sleep(0.3)  # both subscribed
            await inverters.publish(host, port, 40)
            await caught_up(leader, inverters)
            await caught_up(follower, inverters)
            await leader.energy.flush()
            await follower.energy.flush()  # follows the stored baselines: counts nothing twice
            await inverters.publish(host, port, 40)
            await caught_up(leader, inverters)
            await caught_up(follower, inverters)
            await leading.__aexit__(None, None, None)  # stores its minutes while it still leads
            leading = None
            for _ in range(200):
                if follower.leader:
                    break
                await asyncio.sleep(0.05)
            assert follower.leader
            await inverters.publish(host, port, 40)
            await caught_up(follower, inverters)
            await follower.energy.flush()
    finally:
        if leading is not None:
            await leading.__aexit__(None, None, None)
    assert_exact(await stored_minutes(database_url, inverters), inverters)


async def test_green_energy_into_evs_is_attributed_to_the_park_in_the_report(
    tmp_path: Path, mosquitto_broker: Mosquitto
) -> None:
    """An EV charging while the park generates: the report splits the park's kWh into EVs and exported."""
    host, port = mosquitto_broker.host, mosquitto_broker.port
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    readings = {"inv-1": (1000.0, 1050.0), "inv-2": (2000.0, 2010.0)}  # 60 Wh generated in `minute`
    settings = energy_settings(tmp_path, mosquitto_broker, f"sqlite+aiosqlite:///{tmp_path / 'green.db'}")
    async with running_platform(settings) as platform:
        platform.clock = lambda: minute + timedelta(seconds=30)  # the EV's energy is booked in `minute`
        await asyncio.wait_for(platform.bus.connected.wait(), 10)
        async with aiomqtt.Client(host, port, identifier="green-test-inverters") as client:
            for k, offset in enumerate((0, 60)):
                for inv, values in readings.items():
                    payload = {"ts": (minute + timedelta(seconds=offset)).isoformat(), "ac_power_w": 3000.0,
                               "energy_wh": values[k]}  # fmt: skip
                    await client.publish(f"coopgrid/solar/park-1/{inv}/telemetry", json.dumps(payload), qos=1)
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
        ):

            async def call(unique_id: str, action: str, payload: dict[str, object]) -> dict[str, object]:
                await ws.send_str(json.dumps([2, unique_id, action, payload]))
                while True:
                    frame = json.loads(await ws.receive_str(timeout=5))
                    if frame[0] == 3 and frame[1] == unique_id:
                        return dict(frame[2])
                    if frame[0] == 2:  # the central system's own calls: accepted
                        await ws.send_str(json.dumps([3, frame[1], {"status": "Accepted"}]))

            await call("b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
            started = await call(
                "s", "StartTransaction",
                {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": minute.isoformat()},
            )  # fmt: skip
            sample = {"value": "40", "unit": "Wh", "measurand": "Energy.Active.Import.Register"}
            await call(
                "m", "MeterValues",
                {"connectorId": 1, "transactionId": started["transactionId"],
                 "meterValue": [{"timestamp": (minute + timedelta(seconds=30)).isoformat(), "sampledValue": [sample]}]},
            )  # fmt: skip
        for _ in range(100):
            baselines = platform.solar.minutes.baselines()
            if all(b.ts == minute + timedelta(seconds=60) for b in baselines.values()) and len(baselines) == 2:
                break
            await asyncio.sleep(0.05)
        await platform.energy.flush(final=True)  # closes the EV's minute
        window = {"from": (minute - timedelta(hours=1)).isoformat(), "to": (minute + timedelta(hours=1)).isoformat()}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{platform.http_url}/api/cooperatives/coop/report", params=window) as response:
                report = await response.json()
    park = report["members"][0]["parks"][0]
    assert (park["generated_kwh"], park["to_evs_kwh"], park["exported_kwh"]) == (0.06, 0.04, 0.02)
    assert (report["generated_kwh"], report["to_evs_kwh"], report["exported_kwh"]) == (0.06, 0.04, 0.02)
