"""10,000 charge points connected at once to one CoopGrid process.

Starts `coopgrid serve` (SQLite, embedded broker), then from a separate
process opens N OCPP 1.6 connections with the simulator's lightweight mode
(`coopgrid simulate chargers --lightweight`), each sending BootNotification and
then a Heartbeat every few seconds, and holds them. Prints the time to connect
all, the server's peak RSS and the RSS per connection, and what the simulator
process itself spent per charger.

    .venv/bin/python benchmarks/ocpp_connections.py [--chargers 10000] [--hold 20]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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
    url: str, count: int, hold_s: float, heartbeat_s: float, report: multiprocessing.Queue[Any]
) -> None:
    """The load: the simulator's lightweight mode (simulators/light.py), booting then heartbeating."""
    from simulators.light import LightFleet

    fleet = LightFleet(url, count, prefix="LOAD-", heartbeat_s=heartbeat_s, transactions=False, ramp_per_s=4000)
    started = time.perf_counter()
    task = asyncio.create_task(fleet.run())
    try:
        await asyncio.wait_for(fleet.all_up.wait(), 600)
        up_s = time.perf_counter() - started
        report.put(("up", fleet.stats.connected, count - fleet.stats.connected, up_s, dict(fleet.stats.errors)))
        await asyncio.sleep(hold_s)
        report.put(("held", fleet.stats.connected, count - fleet.stats.connected, time.perf_counter() - started))
        report.put(("cost", fleet.cost()))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


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
            up = cost = None
            while cost is None:
                while not report.empty():
                    message = report.get()
                    if message[0] == "cost":
                        cost = message[1]
                    elif message[0] == "up":
                        up = message
                        print(
                            f"connected {message[1]}/{args.chargers} ({message[2]} failed) in {message[3]:.1f} s",
                            flush=True,
                        )
                    else:
                        print(f"still connected after the hold: {message[1]}/{args.chargers}", flush=True)
                peak = max(peak, rss_kib(server.pid))
                if not client.is_alive() and report.empty() and cost is None:
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
    assert cost is not None
    print(
        f"simulator (one process, lightweight mode): {cost['rss_kib_per_charger']:.1f} KiB RSS and "
        f"{cost['cpu_percent_per_1000']:.2f} % of a CPU per 1,000 chargers"
    )


if __name__ == "__main__":
    main()
