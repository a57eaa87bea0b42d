"""10,000 charge points connected at once to one CoopGrid process.

Starts `coopgrid serve` (SQLite, embedded broker), then from a separate
process opens N OCPP 1.6 connections, each sending BootNotification and then
a Heartbeat every few seconds, and holds them. Prints the time to connect
all, the server's peak RSS and the RSS per connection.

    .venv/bin/python benchmarks/ocpp_connections.py [--chargers 10000] [--hold 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ocpp_throughput import ROOT, free_port, stop, wait_port  # noqa: E402


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def hold_connections(
    url: str, count: int, hold_s: float, heartbeat_s: float, report: multiprocessing.Queue
) -> None:  # type: ignore[type-arg]
    import aiohttp

    raise_fd_limit()
    connected = 0
    failed = 0
    reasons: Counter[str] = Counter()
    all_up = asyncio.Event()
    release = asyncio.Event()
    started = time.perf_counter()

    async def one(session: aiohttp.ClientSession, index: int) -> None:
        nonlocal connected, failed
        try:
            async with session.ws_connect(f"{url}/LOAD-{index:05d}", protocols=("ocpp1.6",), heartbeat=None) as ws:
                boot = {"chargePointVendor": "Load", "chargePointModel": "L"}
                await ws.send_str(json.dumps([2, "b", "BootNotification", boot]))
                while True:  # answer the central system's calls after boot
                    frame = json.loads(await ws.receive_str(timeout=120))
                    if frame[0] == 3 and frame[1] == "b":
                        break
                    if frame[0] == 2:
                        await ws.send_str(json.dumps([3, frame[1], {"configurationKey": []}]))
                connected += 1
                if connected + failed == count:
                    all_up.set()
                beat = 0
                while not release.is_set():
                    try:
                        await asyncio.wait_for(release.wait(), heartbeat_s)
                    except TimeoutError:
                        beat += 1
                        await ws.send_str(json.dumps([2, f"h{beat}", "Heartbeat", {}]))
                        await ws.receive_str(timeout=120)
        except Exception as exc:
            failed += 1
            reasons[type(exc).__name__] += 1
            if connected + failed == count:
                all_up.set()

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = []
        for index in range(count):
            tasks.append(asyncio.create_task(one(session, index)))
            if index % 200 == 199:
                await asyncio.sleep(0.05)  # a brisk ramp, not a SYN flood
        await asyncio.wait_for(all_up.wait(), 600)
        report.put(("up", connected, failed, time.perf_counter() - started, dict(reasons)))
        await asyncio.sleep(hold_s)
        report.put(("held", connected, failed, time.perf_counter() - started))
        release.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def _client(url: str, count: int, hold_s: float, heartbeat_s: float, report: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    asyncio.run(hold_connections(url, count, hold_s, heartbeat_s, report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chargers", type=int, default=10_000)
    parser.add_argument("--hold", type=float, default=20.0, help="seconds to hold all connections")
    parser.add_argument("--heartbeat", type=float, default=10.0)
    args = parser.parse_args()
    raise_fd_limit()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {
            **os.environ,
            "COOPGRID_HTTP__PORT": str(port),
            "COOPGRID_DATABASE__URL": f"sqlite+aiosqlite:///{tmp}/conn.db",
            "COOPGRID_LOG_LEVEL": "WARNING",
            "COOPGRID_OCPP__HEARTBEAT_INTERVAL_S": "60",
        }
        server = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"], env=env, cwd=ROOT)
        try:
            wait_port(port)
            idle_rss = rss_kib(server.pid)
            report: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
            client = multiprocessing.Process(
                target=_client, args=(f"ws://127.0.0.1:{port}/ocpp", args.chargers, args.hold, args.heartbeat, report)
            )
            client.start()
            peak = idle_rss
            up = held = None
            while held is None:
                while not report.empty():
                    message = report.get()
                    if message[0] == "up":
                        up = message
                        print(
                            f"connected {message[1]}/{args.chargers} ({message[2]} failed) in {message[3]:.1f} s",
                            flush=True,
                        )
                    else:
                        held = message
                peak = max(peak, rss_kib(server.pid))
                if not client.is_alive() and report.empty() and held is None:
                    raise RuntimeError("load process died")
                time.sleep(0.2)
            client.join(120)
        finally:
            stop(server)  # type: ignore[arg-type]
    assert up is not None
    connected = up[1]
    print(f"\n{connected} charge points connected at once to one process, {os.cpu_count()} CPUs")
    print(f"time to connect all : {up[3]:.1f} s")
    print(f"server RSS idle     : {idle_rss / 1024:.0f} MiB")
    print(f"server RSS peak     : {peak / 1024:.0f} MiB  (target < 1536 MiB)")
    print(f"RSS per connection  : {(peak - idle_rss) / max(connected, 1):.1f} KiB")


if __name__ == "__main__":
    main()
