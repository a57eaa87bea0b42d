"""The InfluxDB writer against a real InfluxDB-protocol server (VictoriaMetrics), reading the points back."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from chargepoints.events import ConnectorStatusChanged, MeterSample, TransactionStarted
from gateway.influx import InfluxWriter, points_for, points_for_allocation
from solar.events import InverterPowerChanged

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


async def export(base: str, match: str, expect: int = 1) -> list[dict[str, Any]]:
    """The matching series; waits (up to 5 s) for `expect` of them: new series take a moment to be searchable."""
    series: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        for _ in range(50):
            await http.get(f"{base}/internal/force_flush")
            async with http.get(f"{base}/api/v1/export", params={"match[]": match}) as response:
                text = await response.text()
            series = [json.loads(line) for line in text.splitlines() if line.strip()]
            if len(series) >= expect:
                break
            await asyncio.sleep(0.1)
    return series


async def test_points_are_written_and_read_back(victoriametrics: str) -> None:
    writer = InfluxWriter(victoriametrics, "token", "coopgrid", "coopgrid", batch_size=3, flush_interval_s=0.2)
    task = asyncio.create_task(writer.run())
    try:
        writer.on_event(MeterSample("CP-1", 1, 7, T0, energy_wh=1500.0, power_w=7200.0, current_a=10.4))
        writer.on_event(ConnectorStatusChanged("CP-1", 1, "Charging", "NoError", T0))
        writer.on_event(TransactionStarted("CP-1", 1, 7, "TAG", 0.0, T0))
        writer.on_event(InverterPowerChanged("park-1", "inv-1", 4321.0, False, T0 + timedelta(seconds=1)))
        allocation = {
            "ts": T0.isoformat(),
            "setpoints": [
                {"charge_point_id": "CP-1", "connector_id": 1, "limit_a": 9.5, "green_w": 6555.0, "grid_w": 0.0}
            ],
        }
        writer.write(points_for_allocation("site-a", allocation))
        for _ in range(100):
            if writer.written >= 5 and writer.queue_depth == 0:
                break
            await asyncio.sleep(0.05)
        assert writer.written >= 5
        match = '{__name__=~"charger_meter_.*|inverter_power_.*|allocation_.*"}'
        series = await export(victoriametrics, match, expect=8)
        by_name = {
            (s["metric"]["__name__"], s["metric"].get("charge_point_id") or s["metric"].get("inverter_id")): s["values"]
            for s in series
        }  # type: ignore[index, union-attr]
        assert by_name[("charger_meter_power_w", "CP-1")] == [7200.0]
        assert by_name[("charger_meter_energy_wh", "CP-1")] == [1500.0]
        assert by_name[("inverter_power_power_w", "inv-1")] == [4321.0]
        assert by_name[("allocation_limit_a", "CP-1")] == [9.5]
        meter = next(s for s in series if s["metric"]["__name__"] == "charger_meter_power_w")  # type: ignore[index]
        assert meter["metric"]["connector_id"] == "1"  # type: ignore[index]
        assert meter["timestamps"] == [int(T0.timestamp() * 1000)]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_failed_writes_are_retried_and_overflow_is_counted() -> None:
    """A server that fails three times then accepts: nothing is lost; a full buffer drops the oldest."""
    received: list[str] = []
    failures = 3

    async def write(request: web.Request) -> web.Response:
        nonlocal failures
        if failures:
            failures -= 1
            return web.Response(status=503, text="busy")
        received.extend((await request.text()).splitlines())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/api/v2/write", write)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    writer = InfluxWriter(
        f"http://127.0.0.1:{port}", "t", "o", "b", batch_size=10, flush_interval_s=0.05, max_backoff_s=0.1
    )
    task = asyncio.create_task(writer.run())
    try:
        writer.write(
            points_for(MeterSample("CP", 1, None, T0 + timedelta(seconds=i), power_w=float(i)))[0] for i in range(25)
        )
        for _ in range(200):
            if len(received) == 25:
                break
            await asyncio.sleep(0.02)
        assert len(received) == 25
        assert writer.failures == 3
        assert writer.dropped == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await runner.cleanup()
    small = InfluxWriter("http://127.0.0.1:9", "t", "o", "b", max_buffer=5)
    small.write(points_for(MeterSample("CP", 1, None, T0, power_w=float(i)))[0] for i in range(8))
    assert small.queue_depth == 5
    assert small.dropped == 3


async def test_the_platform_writes_what_its_chargers_report(victoriametrics: str, tmp_path) -> None:  # noqa: ANN001
    from tests.fixtures.platform import make_settings, running_platform

    settings = make_settings(tmp_path, influx={"url": victoriametrics, "flush_interval_s": 0.2})
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws:
            status = {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
            await ws.send_str(json.dumps([2, "s", "StatusNotification", status]))
            await ws.receive_str(timeout=5)
            meter = {
                "connectorId": 1,
                "meterValue": [
                    {
                        "timestamp": T0.isoformat(),
                        "sampledValue": [{"value": "3300", "measurand": "Power.Active.Import", "unit": "W"}],
                    }
                ],
            }
            await ws.send_str(json.dumps([2, "m", "MeterValues", meter]))
            await ws.receive_str(timeout=5)
        assert platform.influx is not None
        for _ in range(100):
            if platform.influx.written >= 2:
                break
            await asyncio.sleep(0.05)
    wanted = {"charger_meter_power_w", "charger_status_fault", "charger_status_connected"}
    names: set[object] = set()
    for _ in range(50):  # a new series takes a moment to be searchable in VictoriaMetrics
        series = await export(victoriametrics, '{__name__=~"charger_.*"}')
        names = {s["metric"]["__name__"] for s in series}  # type: ignore[index]
        if wanted <= names:
            break
        await asyncio.sleep(0.1)
    assert wanted <= names
