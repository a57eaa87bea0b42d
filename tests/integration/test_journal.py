"""Transactions survive a database outage (issue 16, item 5), with real processes: `coopgrid serve` killed by
SIGKILL while its PostgreSQL is stopped, then both started again; chargers as raw OCPP 1.6J and 2.0.1 clients."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fixtures.engines import (
    Charger,
    Instance,
    PostgresServer,
    charger,
    iso,
    transactions,
)
from tests.protocol.ocpp_client import server_call_answer

pytestmark = pytest.mark.integration

OUTAGE_S = 30.0  # as long as the issue asks


class Station:
    """OCPP 2.0.1 frames over one WebSocket; the central system's own calls answered while it waits."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.counter = 0

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        self.counter += 1
        unique_id = f"st-{self.counter}"
        await self.ws.send_str(json.dumps([2, unique_id, action, payload]))
        while True:
            frame = json.loads(await self.ws.receive_str(timeout=15))
            if frame[0] == 2:
                await self.ws.send_str(json.dumps([3, frame[1], server_call_answer(frame)]))
            elif frame[1] == unique_id:
                return frame

    async def event(self, kind: str, seq_no: int, energy_wh: float, ts: datetime) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "eventType": kind,
            "timestamp": iso(ts),
            "triggerReason": {"Started": "Authorized", "Updated": "MeterValuePeriodic", "Ended": "EVDeparted"}[kind],
            "seqNo": seq_no,
            "transactionInfo": {"transactionId": "J201-TX"},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [
                {
                    "timestamp": iso(ts),
                    "sampledValue": [{"value": energy_wh, "measurand": "Energy.Active.Import.Register"}],
                }
            ],
        }
        if kind == "Started":
            payload["idToken"] = {"idToken": "TAG-OK", "type": "ISO14443"}
        if kind == "Ended":
            payload["transactionInfo"]["stoppedReason"] = "EVDisconnected"
        frame = await self.call("TransactionEvent", payload)
        assert frame[0] == 3, frame
        return dict(frame[2])


async def start(cp: Charger, meter_wh: int, ts: datetime) -> int:
    answer = await cp.result("StartTransaction", {"connectorId": 1, "idTag": "TAG-OK", "meterStart": meter_wh,
                                                  "timestamp": iso(ts)})  # fmt: skip
    assert answer["idTagInfo"]["status"] == "Accepted"
    return int(answer["transactionId"])


async def stop(cp: Charger, transaction_id: int, meter_wh: int, ts: datetime) -> None:
    payload = {"transactionId": transaction_id, "meterStop": meter_wh, "timestamp": iso(ts), "reason": "Local"}
    assert await cp.result("StopTransaction", payload) == {}  # no idTag sent: no idTagInfo answered


async def test_every_transaction_answered_during_an_outage_and_a_kill_is_stored(
    tmp_path: Path, postgres_server: PostgresServer, mosquitto: tuple[str, int], instances: list[Instance]
) -> None:
    one = Instance(tmp_path, "journaled", postgres_server.url, mosquitto)
    instances.append(one.start())
    t0 = datetime.now(UTC).replace(microsecond=0)
    async with aiohttp.ClientSession() as http:
        async with (
            charger(http, f"{one.ocpp_url}/CP-J1") as j1,
            charger(http, f"{one.ocpp_url}/CP-J2") as j2,
            charger(http, f"{one.ocpp_url}/CP-J3") as j3,
            http.ws_connect(f"{one.ocpp_url}/CP-J4", protocols=("ocpp2.0.1",)) as ws,
        ):
            j4 = Station(ws)
            for cp in (j1, j2, j3):
                await cp.boot()
            boot = {"chargingStation": {"model": "J", "vendorName": "Journal"}, "reason": "PowerUp"}
            assert (await j4.call("BootNotification", boot))[2]["status"] == "Accepted"
            before = await start(j1, 1000, t0)  # stored before the outage
            await j1.meter(before, 1400.0, t0 + timedelta(seconds=10))

            postgres_server.stop()
            outage = time.monotonic()
            # while the database is away: every message is answered as usual
            await j1.meter(before, 1900.0, t0 + timedelta(seconds=20))
            await stop(j1, before, 2300, t0 + timedelta(seconds=30))
            during = await start(j2, 5000, t0 + timedelta(seconds=31))
            await j2.meter(during, 5600.0, t0 + timedelta(seconds=40))
            await stop(j2, during, 6100, t0 + timedelta(seconds=50))
            running = await start(j3, 100, t0 + timedelta(seconds=32))
            assert len({before, during, running}) == 3
            await j4.event("Started", 0, 20_000.0, t0 + timedelta(seconds=33))
            await j4.event("Updated", 1, 20_700.0, t0 + timedelta(seconds=43))
            await j4.event("Ended", 2, 21_200.0, t0 + timedelta(seconds=53))
            k = 0
            while time.monotonic() - outage < OUTAGE_S:  # the running session keeps metering through it
                k += 1
                await j3.meter(running, 100.0 + 50 * k, t0 + timedelta(seconds=60 + k))
                await asyncio.sleep(1.0)
            last_register = 100.0 + 50 * k
            await j3.meter(running, last_register + 25, t0 + timedelta(seconds=61 + k))
            last_register += 25
            one.kill()  # at once, the database still away: the last register was answered, not yet flushed
        journals = list((tmp_path / "journaled-journal").glob("*.jsonl"))
        assert journals
        assert journals[0].stat().st_size > 0

        await asyncio.get_running_loop().run_in_executor(None, postgres_server.start)
        one.start()  # writes what the killed process journaled before it serves
        stored = {row["charge_point_id"]: row for row in await transactions(postgres_server.url)}
        assert set(stored) == {"CP-J1", "CP-J2", "CP-J3", "CP-J4"}
        assert (stored["CP-J1"]["id"], stored["CP-J1"]["meter_stop_wh"]) == (before, 2300)
        assert stored["CP-J1"]["stop_ts"] == t0 + timedelta(seconds=30)
        assert (stored["CP-J2"]["id"], stored["CP-J2"]["meter_start_wh"]) == (during, 5000)
        assert stored["CP-J2"]["meter_stop_wh"] == 6100
        assert stored["CP-J2"]["start_ts"] == t0 + timedelta(seconds=31)
        assert (stored["CP-J3"]["id"], stored["CP-J3"]["stop_ts"]) == (running, None)
        assert stored["CP-J3"]["meter_last_wh"] == last_register
        assert stored["CP-J4"]["ocpp_transaction_id"] == "J201-TX"
        assert stored["CP-J4"]["meter_start_wh"] == 20_000
        assert stored["CP-J4"]["meter_stop_wh"] == 21_200
        assert stored["CP-J4"]["last_seq_no"] == 2
        assert not [p for p in (tmp_path / "journaled-journal").glob("*.jsonl") if p.stat().st_size]

        # and the REST views count their energy
        async with http.get(f"{one.http_url}/api/sessions/{during}") as response:
            assert response.status == 200
            assert (await response.json())["energy_wh"] == pytest.approx(1100)
        async with http.get(f"{one.http_url}/api/sessions/{running}") as response:
            assert (await response.json())["energy_wh"] == pytest.approx(last_register - 100)
        # a running session carries on: its charger comes back and stops it through the restarted instance
        async with charger(http, f"{one.ocpp_url}/CP-J3") as j3:
            await j3.boot()
            await stop(j3, running, int(last_register) + 40, t0 + timedelta(minutes=3))
    stored = {row["charge_point_id"]: row for row in await transactions(postgres_server.url)}
    assert stored["CP-J3"]["meter_stop_wh"] == last_register + 40
