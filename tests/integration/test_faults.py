"""Faults on real engines (issue 9): each test breaks something and then checks what was kept.

Every engine is a real process on a free loopback port: Mosquitto, PostgreSQL,
VictoriaMetrics (the InfluxDB-protocol server) and, where an instance has to
die by SIGKILL, `coopgrid serve` itself. Chargers are raw OCPP 1.6J
WebSocket clients; inverters publish the native telemetry of DESIGN.md at QoS 1.

COOPGRID_FAULT_INFLUX_DOWN_S sets how long the InfluxDB-protocol server stays
down (the issue's 60 s by default); COOPGRID_FAULT_STORM sets the number of
chargers in the reconnect storm (5,000 by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.fixtures.engines import (
    Charger,
    Instance,
    PostgresServer,
    VictoriaMetrics,
    charger,
    iso,
    transactions,
)
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.platform import make_settings, running_platform
from tests.fixtures.services import require_binary
from tests.integration.test_scale_out import fresh_database, wait_until

pytestmark = pytest.mark.integration

INFLUX_DOWN_S = float(os.environ.get("COOPGRID_FAULT_INFLUX_DOWN_S", "60"))
STORM_CHARGERS = int(os.environ.get("COOPGRID_FAULT_STORM", "5000"))


# -- a. an instance dies by SIGKILL in the middle of a transaction ---------------------------------------
async def test_a_transaction_survives_a_killed_instance(
    tmp_path: Path, postgres_url: str, mosquitto: tuple[str, int], instances: list[Instance]
) -> None:
    database = await fresh_database(postgres_url)
    a = Instance(tmp_path, "fault-a", database, mosquitto)
    b = Instance(tmp_path, "fault-b", database, mosquitto)
    instances += [a.start(), b.start()]
    t0 = datetime.now(UTC).replace(microsecond=0)
    start = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 1000, "timestamp": iso(t0)}
    sent: list[float] = []
    async with aiohttp.ClientSession() as http:
        async with charger(http, f"{a.ocpp_url}/CP-KILL") as cp:
            await cp.boot()
            answer = await cp.result("StartTransaction", start)
            transaction_id = answer["transactionId"]
            assert answer["idTagInfo"]["status"] == "Accepted"
            for k in range(1, 11):
                sent.append(1000 + 150.0 * k)
                await cp.meter(transaction_id, sent[-1], t0 + timedelta(seconds=10 * k))
            a.kill()  # at once: the last registers answered are written behind, not yet flushed
            with contextlib.suppress(Exception):
                await cp.ws.receive(timeout=5)
        a.start()  # writes the registers it had answered and not flushed (its register log) before it serves
        stored = await transactions(database, "CP-KILL")
        assert len(stored) == 1
        assert stored[0]["meter_last_wh"] == sent[-1]  # nothing answered was lost
        assert stored[0]["stop_ts"] is None

        # the charger comes back through the other instance and carries on
        async with charger(http, f"{b.ocpp_url}/CP-KILL") as cp:
            await cp.boot()
            # it never learnt whether its StartTransaction went through: it sends it again, unchanged
            again = await cp.result("StartTransaction", start)
            assert again["transactionId"] == transaction_id
            for k in range(11, 21):
                sent.append(1000 + 150.0 * k)
                await cp.meter(transaction_id, sent[-1], t0 + timedelta(seconds=10 * k))
            stop = {
                "transactionId": transaction_id,
                "meterStop": 4200,
                "timestamp": iso(t0 + timedelta(seconds=220)),
                "reason": "EVDisconnected",
                "idTag": "TAG-OK",
            }
            assert (await cp.result("StopTransaction", stop))["idTagInfo"]["status"] == "Accepted"
            async with http.get(f"{b.http_url}/api/sessions/{transaction_id}") as response:
                assert response.status == 200
                session = await response.json()

    stored = await transactions(database, "CP-KILL")
    assert len(stored) == 1  # exactly one transaction
    row = stored[0]
    assert row["id"] == transaction_id
    assert row["meter_start_wh"] == 1000
    assert row["meter_last_wh"] == sent[-1]  # the register of the last MeterValues, received by B
    assert row["meter_stop_wh"] == 4200
    assert row["stop_reason"] == "EVDisconnected"
    assert row["start_ts"] == t0
    assert row["stop_ts"] == t0 + timedelta(seconds=220)
    assert session["energy_wh"] == pytest.approx(3200)
    engine = create_async_engine(database)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM unmatched_stops"))).scalar() == 0
    await engine.dispose()


# -- b. the broker restarts while an inverter publishes at QoS 1 ----------------------------------------------
async def test_b_no_qos1_telemetry_lost_across_a_broker_restart(tmp_path: Path, mosquitto_broker: Mosquitto) -> None:
    host, port = mosquitto_broker.host, mosquitto_broker.port
    settings = make_settings(
        tmp_path,
        mqtt={"url": f"mqtt://{host}:{port}", "client_id": "coopgrid-fault-b", "reconnect_max_s": 1.0},
        parks=[{"id": "park-1", "member_id": "m1", "inverters": [{"id": "inv-1", "rated_power_w": 5000.0}]}],
    )
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=4)
    step_s, power_w, first_wh, total = 15.0, 3600.0, 10_000.0, 600
    delivered: list[datetime] = []

    async def count(topic: str, payload: bytes) -> None:
        delivered.append(datetime.fromisoformat(json.loads(payload)["ts"]))

    async def inverter(progress: list[int]) -> None:
        """Publishes `total` readings at QoS 1; a publish that fails is sent again once reconnected."""
        n = 0
        while n < total:
            try:
                async with aiomqtt.Client(host, port, identifier="fault-b-inverter", clean_session=False) as client:
                    while n < total:
                        ts = start + timedelta(seconds=step_s * n)
                        energy = first_wh + power_w * step_s * n / 3600
                        payload = {"ts": ts.isoformat(), "ac_power_w": power_w, "energy_wh": energy}
                        await client.publish("coopgrid/solar/park-1/inv-1/telemetry", json.dumps(payload), qos=1)
                        n += 1
                        progress[0] = n
                        await asyncio.sleep(0.01)
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)

    async with running_platform(settings) as platform:
        platform.bus.subscribe("coopgrid/solar/+/+/telemetry", count)  # sees what the broker delivers to it
        await wait_until(platform.bus.connected.is_set)
        progress = [0]
        publishing = asyncio.create_task(inverter(progress))
        await wait_until(lambda: progress[0] >= total // 3)
        mosquitto_broker.stop()  # the broker goes away mid-stream ...
        await asyncio.sleep(2.0)
        mosquitto_broker.start()  # ... and comes back with its persisted sessions
        await asyncio.wait_for(publishing, 60)
        assert platform.bus.reconnects >= 1
        try:
            await wait_until(lambda: platform.solar.accepted >= total, within_s=30)
        except AssertionError:
            got = set(delivered)
            missing = [n for n in range(total) if start + timedelta(seconds=step_s * n) not in got]
            raise AssertionError(
                f"accepted {platform.solar.accepted}/{total}, delivered {len(delivered)}, missing {missing[:5]}"
                f"..{missing[-5:]} ({len(missing)}), rejects {dict(platform.solar.rejects)}"
            ) from None
        await asyncio.sleep(0.5)
        await platform.energy.flush()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{platform.http_url}/api/parks/park-1") as response:
                park = await response.json()
        minutes = await platform.store.energy.park_minutes("park-1", start, start + timedelta(hours=3))

    expected = [start + timedelta(seconds=step_s * n) for n in range(total)]
    assert sorted(set(delivered)) == expected  # every reading reached the platform (QoS 1: maybe twice)
    assert platform.solar.accepted == total  # and each was taken once
    rise_wh = power_w * step_s * (total - 1) / 3600
    assert sum(wh for _, wh, _ in minutes) == pytest.approx(rise_wh, abs=1e-6)  # the energy, to the Wh
    assert len(minutes) == int(step_s * (total - 1) // 60) + 1  # no minute missing
    assert park["id"] == "park-1"


# -- c. PostgreSQL restarts while chargers charge -------------------------------------------------------------
async def test_c_writes_are_retried_across_a_database_restart(tmp_path: Path, postgres_server: PostgresServer) -> None:
    settings = make_settings(tmp_path, database={"url": postgres_server.url})
    t0 = datetime.now(UTC).replace(microsecond=0)
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        async with charger(http, f"{platform.ocpp_url}/CP-A") as one, charger(http, f"{platform.ocpp_url}/CP-B") as two:
            await one.boot()
            await two.boot()
            start = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": iso(t0)}
            tx_one = (await one.result("StartTransaction", start))["transactionId"]
            registers = [0]
            for _ in range(5):
                registers.append(registers[-1] + 25)
                await one.meter(tx_one, registers[-1], t0 + timedelta(seconds=len(registers)))

            postgres_server.stop()
            # while the database is away: meter values are answered (written behind, kept) ...
            for _ in range(20):
                registers.append(registers[-1] + 25)
                await one.meter(tx_one, registers[-1], t0 + timedelta(seconds=len(registers)))
                await asyncio.sleep(0.1)
            # ... and so is a transaction: its id reserved beforehand, its start journaled on disk (issue 16)
            start_two = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 500, "timestamp": iso(t0)}
            answered = await two.call("StartTransaction", start_two)
            assert answered[0] == 3, answered
            tx_two = answered[2]["transactionId"]
            assert answered[2]["idTagInfo"]["status"] == "Accepted"  # the tag as read before the outage
            assert platform.repository.degraded
            assert platform.repository.pending >= 1
            resent = await two.result("StartTransaction", start_two)  # a resent start: the same transaction
            assert resent["transactionId"] == tx_two
            await two.meter(tx_two, 650.0, t0 + timedelta(seconds=30))
            await asyncio.get_running_loop().run_in_executor(None, postgres_server.start)
            await wait_until(lambda: not platform.repository.degraded, within_s=20)
            assert platform.repository.pending == 0

            # after the restart: what was answered during the outage is stored
            await wait_until(lambda: platform.central.unflushed_register(tx_one) is None, within_s=20)
            stored = {row["id"]: row for row in await transactions(postgres_server.url)}
            assert stored[tx_one]["meter_last_wh"] == registers[-1]
            for _ in range(3):
                registers.append(registers[-1] + 25)
                await one.meter(tx_one, registers[-1], t0 + timedelta(seconds=len(registers)))
            stop = {
                "transactionId": tx_one,
                "meterStop": int(registers[-1]) + 10,
                "timestamp": iso(t0 + timedelta(minutes=5)),
            }
            assert await one.result("StopTransaction", stop) == {}
            stop = {"transactionId": tx_two, "meterStop": 900, "timestamp": iso(t0 + timedelta(minutes=5))}
            assert await two.result("StopTransaction", stop) == {}

    stored = {row["id"]: row for row in await transactions(postgres_server.url)}
    assert sorted(stored) == sorted([tx_one, tx_two])  # one transaction each, none doubled by the retries
    assert stored[tx_one]["meter_last_wh"] == registers[-1]
    assert stored[tx_one]["meter_stop_wh"] == registers[-1] + 10
    assert stored[tx_two]["meter_start_wh"] == 500
    assert stored[tx_two]["meter_stop_wh"] == 900


# -- d. the InfluxDB-protocol server is down for a minute -----------------------------------------------------
async def test_d_points_are_buffered_while_influx_is_down(tmp_path: Path) -> None:
    binary = require_binary("victoria-metrics", "/usr/bin/victoria-metrics")
    server = VictoriaMetrics(binary, tmp_path)
    server.start()
    settings = make_settings(tmp_path, influx={"url": server.url, "flush_interval_s": 0.2})
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    try:
        async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
            influx = platform.influx
            assert influx is not None
            influx.max_backoff_s = 5.0  # retry often enough for the test to end soon after the server is back
            async with charger(http, f"{platform.ocpp_url}/CP-A") as cp:
                await cp.boot()
                start = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": iso(t0)}
                tx = (await cp.result("StartTransaction", start))["transactionId"]
                await cp.meter(tx, 10.0, t0 + timedelta(seconds=1))
                await wait_until(lambda: influx.written >= 1 and influx.queue_depth == 0)
                server.stop()
                down_since = time.monotonic()
                n = 1
                while time.monotonic() - down_since < INFLUX_DOWN_S:
                    n += 1
                    await cp.meter(tx, 10.0 * n, t0 + timedelta(seconds=n))
                    await asyncio.sleep(0.25)
                assert influx.failures >= 1
                assert influx.queue_depth >= n - 1
                server.start()
                await wait_until(lambda: influx.queue_depth == 0, within_s=30)
                assert influx.dropped == 0
        series: list[dict[str, Any]] = []
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                await http.get(f"{server.url}/internal/force_flush")
                params = {"match[]": '{__name__="charger_meter_energy_wh",charge_point_id="CP-A"}', "start": "0"}
                async with http.get(f"{server.url}/api/v1/export", params=params) as response:
                    series = [json.loads(line) for line in (await response.text()).splitlines() if line.strip()]
                if series and len(series[0]["values"]) >= n:
                    break
                await asyncio.sleep(0.2)
        assert len(series) == 1
        stamps = [datetime.fromtimestamp(ms / 1000, UTC) for ms in series[0]["timestamps"]]
        assert stamps == [t0 + timedelta(seconds=k) for k in range(1, n + 1)]  # every sample, none missing
        assert series[0]["values"] == [10.0 * k for k in range(1, n + 1)]
    finally:
        server.stop()


# -- e. a reconnect storm: thousands of chargers come back within a minute ---------------------------------------
async def _storm_charger(
    http: aiohttp.ClientSession, url: str, index: int, t0: datetime, phase: str, result: dict[int, int]
) -> None:
    """Boot, then StartTransaction (phase "start"), or boot, the same StartTransaction again and a stop ("again")."""
    attempt = 0
    while True:
        try:
            async with http.ws_connect(f"{url}/STORM-{index}", protocols=("ocpp1.6",), autoping=True) as ws:
                cp = Charger(ws)
                await cp.result("BootNotification", {"chargePointVendor": "Storm", "chargePointModel": "S"})
                start = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": index, "timestamp": iso(t0)}
                answer = await cp.call("StartTransaction", start, within_s=60)
                assert answer[0] == 3, answer
                transaction_id = answer[2]["transactionId"]
                if phase == "start":
                    result[index] = transaction_id
                    return
                assert transaction_id == result[index], (index, transaction_id, result[index])
                stop = {
                    "transactionId": transaction_id,
                    "meterStop": index + 1000,
                    "timestamp": iso(t0 + timedelta(hours=1)),
                }
                answer = await cp.call("StopTransaction", stop, within_s=60)
                assert answer[0] == 3, answer
                return
        except (aiohttp.ClientError, TimeoutError, ConnectionError):
            attempt += 1  # refused under load or cut: a charger tries again
            if attempt > 30:
                raise
            await asyncio.sleep(random.uniform(0.5, 2.0))


# a guard against a hang, not a speed bound: on this 2-core machine the 5,000-charger storm alone took 173 s
# one day and 309 s (489 s with set-up) another, and 600 s ran out once inside the full suite
@pytest.mark.timeout(1200)
async def test_e_no_transaction_lost_or_doubled_in_a_reconnect_storm(
    tmp_path: Path, postgres_url: str, mosquitto: tuple[str, int], instances: list[Instance]
) -> None:
    database = await fresh_database(postgres_url)
    env = {"COOPGRID_OCPP__RESPONSE_TIMEOUT_S": "60"}
    a = Instance(tmp_path, "storm-a", database, mosquitto, **env)
    b = Instance(tmp_path, "storm-b", database, mosquitto, **env)
    instances += [a.start(), b.start()]
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    ids: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        # every charger on instance A, each with a transaction running
        await asyncio.gather(*(_storm_charger(http, a.ocpp_url, i, t0, "start", ids) for i in range(STORM_CHARGERS)))
        assert len(ids) == STORM_CHARGERS
        assert len(set(ids.values())) == STORM_CHARGERS
        # A dies; all of them come back at once on B, resend their start, then stop
        a.kill()
        began = time.monotonic()
        await asyncio.gather(*(_storm_charger(http, b.ocpp_url, i, t0, "again", ids) for i in range(STORM_CHARGERS)))
        storm_s = time.monotonic() - began
    print(f"reconnect storm: {STORM_CHARGERS} chargers back and stopped in {storm_s:.1f} s")  # measured, not asserted

    stored = await transactions(database)
    assert len(stored) == STORM_CHARGERS  # none lost, none doubled
    by_cp = {row["charge_point_id"]: row for row in stored}
    assert len(by_cp) == STORM_CHARGERS
    for index, transaction_id in ids.items():
        row = by_cp[f"STORM-{index}"]
        assert row["id"] == transaction_id
        assert row["meter_start_wh"] == index
        assert row["meter_stop_wh"] == index + 1000
