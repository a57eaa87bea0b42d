"""OCPP central-system throughput, side by side, in one run.

(a) CoopGrid (`coopgrid serve`, schema validation on, transactions persisted);
(b) a plain server built the way the `ocpp` library's examples build one
    (websockets + ocpp.v16.ChargePoint whose handlers only reply);
(c) a raw aiohttp WebSocket that parses each JSON frame and answers a CallResult.

Load, from a separate process: N charge points, each with an open transaction,
sending MeterValues request/response as fast as they can for D seconds.
Prints calls/s, p50 and p99 latency, and the ratios a/b and a/c.

    .venv/bin/python benchmarks/ocpp_throughput.py [--chargers 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- baseline servers (run in their own process) ---------------------------------
PLAIN_OCPP_SERVER = """
import asyncio, sys, websockets
from datetime import datetime, timezone
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, RegistrationStatus

class CP(ChargePoint):
    @on(Action.boot_notification)
    def on_boot(self, charge_point_vendor, charge_point_model, **kw):
        return call_result.BootNotification(current_time=datetime.now(timezone.utc).isoformat(), interval=300,
                                            status=RegistrationStatus.accepted)
    @on(Action.start_transaction)
    def on_start(self, connector_id, id_tag, meter_start, timestamp, **kw):
        return call_result.StartTransaction(transaction_id=1, id_tag_info={"status": "Accepted"})
    @on(Action.meter_values)
    def on_meter_values(self, connector_id, meter_value, **kw):
        return call_result.MeterValues()

async def on_connect(websocket):
    cp = CP(websocket.request.path.strip("/").split("/")[-1], websocket)
    try:
        await cp.start()
    except websockets.exceptions.ConnectionClosed:
        pass

async def main():
    async with websockets.serve(on_connect, "127.0.0.1", int(sys.argv[1]), subprotocols=["ocpp1.6"]):
        print("ready", flush=True)
        await asyncio.Future()

asyncio.run(main())
"""

RAW_AIOHTTP_SERVER = """
import json, sys
from aiohttp import web, WSMsgType

async def handler(request):
    ws = web.WebSocketResponse(protocols=("ocpp1.6",))
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            frame = json.loads(msg.data)
            started = frame[2] == "StartTransaction"
            payload = {"transactionId": 1, "idTagInfo": {"status": "Accepted"}} if started else {}
            await ws.send_str(json.dumps([3, frame[1], payload]))
    return ws

app = web.Application()
app.router.add_get("/ocpp/{id}", handler)
print("ready", flush=True)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


# -- load generator (a separate process) ------------------------------------------------
def meter_frame(unique_id: str, transaction_id: int, energy_wh: int) -> str:
    return json.dumps(
        [
            2,
            unique_id,
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": transaction_id,
                "meterValue": [
                    {
                        "timestamp": "2026-11-22T12:00:00Z",
                        "sampledValue": [
                            {"value": str(energy_wh), "unit": "Wh", "measurand": "Energy.Active.Import.Register"},
                            {"value": "7200", "unit": "W", "measurand": "Power.Active.Import"},
                            {"value": "10.4", "unit": "A", "measurand": "Current.Import", "phase": "L1"},
                        ],
                    }
                ],
            },
        ]
    )


async def one_charger(url: str, index: int, deadline_holder: list[float], latencies: list[float]) -> int:
    import aiohttp

    calls = 0
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{url}/BENCH-{index}", protocols=("ocpp1.6",)) as ws,
    ):
        boot = {"chargePointVendor": "Bench", "chargePointModel": "B"}
        await ws.send_str(json.dumps([2, "b", "BootNotification", boot]))
        await _answer(ws, "b")
        start = {
            "connectorId": 1,
            "idTag": "BENCH",
            "meterStart": 0,
            "timestamp": f"2026-11-22T12:00:{index % 60:02d}Z",
        }
        await ws.send_str(json.dumps([2, "s", "StartTransaction", start]))
        transaction_id = (await _answer(ws, "s"))["transactionId"]
        while not deadline_holder:  # noqa: ASYNC110 - a start line shared by 200 tasks
            await asyncio.sleep(0.01)
        deadline = deadline_holder[0]
        energy = 0
        while time.perf_counter() < deadline:
            energy += 10
            unique_id = str(calls)
            sent = time.perf_counter()
            await ws.send_str(meter_frame(unique_id, transaction_id, energy))
            await _answer(ws, unique_id)
            latencies.append(time.perf_counter() - sent)
            calls += 1
    return calls


async def _answer(ws: Any, unique_id: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await ws.receive_str(timeout=30))
        if frame[0] == 2:  # a call from the server (e.g. after boot): accept it
            await ws.send_str(json.dumps([3, frame[1], _reply_for(frame[2])]))
            continue
        if frame[1] == unique_id:
            if frame[0] != 3:
                raise RuntimeError(f"server answered {frame}")
            return dict(frame[2])


def _reply_for(action: str) -> dict[str, object]:
    replies: dict[str, dict[str, object]] = {"GetConfiguration": {"configurationKey": []}}
    return replies.get(action, {"status": "Accepted"})


async def load(url: str, chargers: int, seconds: float) -> tuple[int, list[float], float]:
    deadline: list[float] = []
    latencies: list[float] = []
    tasks = [asyncio.create_task(one_charger(url, i, deadline, latencies)) for i in range(chargers)]
    await asyncio.sleep(min(5.0, 0.02 * chargers))  # let everyone connect and start
    started = time.perf_counter()
    deadline.append(started + seconds)
    counts = await asyncio.gather(*tasks)
    return sum(counts), latencies, time.perf_counter() - started


def _load_process(url: str, chargers: int, seconds: float, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    calls, latencies, elapsed = asyncio.run(load(url, chargers, seconds))
    queue.put((calls, sorted(latencies), elapsed))


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds the process has used so far (its threads included)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(url: str, chargers: int, seconds: float, server_pid: int | None = None) -> dict[str, float]:
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    process = multiprocessing.Process(target=_load_process, args=(url, chargers, seconds, queue))
    before = cpu_s(server_pid) if server_pid else 0.0
    process.start()
    calls, latencies, elapsed = queue.get(timeout=seconds + 120)
    process.join()
    # The server's CPU per call over the whole load (connect, boot and start included, a few % of it): what the
    # server spends, however fast the load generator is.
    server_us = (cpu_s(server_pid) - before) / max(calls, 1) * 1e6 if server_pid else float("nan")
    return {
        "server_cpu_us": server_us,
        "calls_per_s": calls / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "calls": calls,
        "elapsed_s": elapsed,
    }


def start_server(argv: list[str], env: dict[str, str] | None = None, ready: str = "ready") -> subprocess.Popen[str]:
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})}
    )
    assert process.stdout is not None
    started = time.monotonic()
    while time.monotonic() - started < 60:
        line = process.stdout.readline()
        if ready in line:
            return process
        if not line and process.poll() is not None:
            raise RuntimeError(f"{argv} exited with {process.returncode}")
    raise RuntimeError(f"{argv} did not become ready")


def start_mosquitto(root: Path, extra: str = "") -> tuple[subprocess.Popen[str], int] | None:
    """A Mosquitto on a free loopback port, when installed; `extra` lines are added to its configuration."""
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if binary is None:
        return None
    port = free_port()
    config = root / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n{extra}", encoding="utf-8")
    process = subprocess.Popen(
        [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
    )
    wait_port(port)
    return process, port


def wait_port(port: int) -> None:
    for _ in range(600):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chargers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="run (a) under cProfile and write its profile to FILE "
        "(the figures of that run are the profiler's, not CoopGrid's)",
    )
    parser.add_argument("--only-coopgrid", action="store_true", help="skip (b) and (c), e.g. with --profile")
    args = parser.parse_args()
    python = sys.executable
    results: dict[str, dict[str, float]] = {}

    with tempfile.TemporaryDirectory() as tmp:
        broker = start_mosquitto(Path(tmp))
        port = free_port()
        env = {
            "COOPGRID_HTTP__PORT": str(port),
            "COOPGRID_HTTP__AUTH": "false",
            "COOPGRID_DATABASE__URL": f"sqlite+aiosqlite:///{tmp}/bench.db",
            "COOPGRID_ID_TAGS": '[{"id": "BENCH"}]',
            "COOPGRID_LOG_LEVEL": "WARNING",
        }
        if broker is not None:  # production mode: an external broker, as `coopgrid serve` is deployed
            env["COOPGRID_MQTT__URL"] = f"mqtt://127.0.0.1:{broker[1]}"
        print(
            f"(a) CoopGrid central system on :{port} ({'Mosquitto' if broker else 'embedded broker'}) ...", flush=True
        )
        profiler = ["-m", "cProfile", "-o", str(Path(args.profile).resolve())] if args.profile else []
        server = subprocess.Popen(
            [python, *profiler, "-m", "gateway.cli", "serve"], env={**os.environ, **env}, cwd=ROOT, text=True
        )
        try:
            wait_port(port)
            results["a coopgrid"] = run_load(f"ws://127.0.0.1:{port}/ocpp", args.chargers, args.seconds, server.pid)
        finally:
            stop(server)
            if broker is not None:
                stop(broker[0])

    if args.only_coopgrid:
        row = results["a coopgrid"]
        print(
            f"\n(a) only: {row['calls_per_s']:.0f} calls/s, p99 {row['p99_ms']:.2f} ms, "
            f"{row['server_cpu_us']:.1f} CPU µs/call"
        )
        return
    for label, source in (("b ocpp-lib plain", PLAIN_OCPP_SERVER), ("c raw aiohttp", RAW_AIOHTTP_SERVER)):
        port = free_port()
        print(f"({label[0]}) {label[2:]} on :{port} ...", flush=True)
        server = start_server([python, "-c", source, str(port)])
        try:
            wait_port(port)
            results[label] = run_load(f"ws://127.0.0.1:{port}/ocpp", args.chargers, args.seconds, server.pid)
        finally:
            stop(server)

    print(f"\nMeterValues, {args.chargers} charge points, {args.seconds:g} s each, {os.cpu_count()} CPUs")
    print(f"{'server':<20}{'calls/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'calls':>10}{'elapsed s':>11}{'CPU µs/call':>13}")
    for label, row in results.items():
        print(
            f"{label:<20}{row['calls_per_s']:>10.0f}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}"
            f"{row['calls']:>10.0f}{row['elapsed_s']:>11.1f}{row['server_cpu_us']:>13.1f}"
        )
    a = results["a coopgrid"]["calls_per_s"]
    print(f"\na/b = {a / results['b ocpp-lib plain']['calls_per_s']:.2f}  (target >= 2.0)")
    print(f"a/c = {a / results['c raw aiohttp']['calls_per_s']:.2f}  (target >= 0.6)")
    cpu_a, cpu_c = results["a coopgrid"]["server_cpu_us"], results["c raw aiohttp"]["server_cpu_us"]
    print(f"server CPU per call, c/a = {cpu_c / cpu_a:.2f}  ({cpu_c:.0f} µs against {cpu_a:.0f} µs; target >= 0.6)")
    p99_a, p99_c = results["a coopgrid"]["p99_ms"], results["c raw aiohttp"]["p99_ms"]
    print(f"p99 a / p99 c = {p99_a / p99_c:.2f}  (target <= 2.0)")


if __name__ == "__main__":
    main()
