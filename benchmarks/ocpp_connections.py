"""10,000 charge points connected at once to one CoopGrid process.

Starts `coopgrid serve` (SQLite, embedded broker), then from a separate
process opens N OCPP 1.6 connections with the simulator's lightweight mode
(`coopgrid simulate chargers --lightweight`), each sending BootNotification and
then a Heartbeat every few seconds, and holds them. Prints the time to connect
all, the server's peak RSS and the RSS per connection, and what the simulator
process itself spent per charger.

With `--storms N`, every connection is then cut at once (no close frame, as
when a site's uplink drops) and all chargers reconnect, N times; the server's
RSS is printed after each storm, once every charger is back and a few seconds
have passed. `--deflate` makes every charger offer permessage-deflate (as the
`websockets` client library does by default); whether the server takes it is
its `ocpp.websocket_compression` setting (off by default), which
`--server-deflate` turns on.

    .venv/bin/python benchmarks/ocpp_connections.py [--chargers 10000] [--hold 20]
    .venv/bin/python benchmarks/ocpp_connections.py --chargers 2000 --storms 5 [--deflate] [--server-deflate]
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ocpp_throughput import ROOT, free_port, stop, wait_port  # noqa: E402


@dataclass(frozen=True)
class Load:
    storms: int = 0
    deflate: bool = False
    settle_s: float = 5.0


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
    url: str, count: int, hold_s: float, heartbeat_s: float, report: multiprocessing.Queue[Any], load: Load
) -> None:
    """The load: the simulator's lightweight mode (simulators/light.py), booting then heartbeating."""
    from simulators.light import LightFleet

    fleet = LightFleet(
        url, count, prefix="LOAD-", heartbeat_s=heartbeat_s, transactions=False, ramp_per_s=4000, deflate=load.deflate
    )
    started = time.perf_counter()
    task = asyncio.create_task(fleet.run())
    try:
        await asyncio.wait_for(fleet.all_up.wait(), 600)
        up_s = time.perf_counter() - started
        report.put(("up", fleet.stats.connected, count - fleet.stats.connected, up_s, dict(fleet.stats.errors)))
        await asyncio.sleep(hold_s)
        report.put(("held", fleet.stats.connected, count - fleet.stats.connected, time.perf_counter() - started))
        for storm in range(1, load.storms + 1):
            cut = fleet.storm()
            began = time.perf_counter()
            await asyncio.sleep(1.0)
            await asyncio.wait_for(fleet.all_up.wait(), 600)
            back_s = time.perf_counter() - began
            await asyncio.sleep(load.settle_s)  # the server's closed sessions collected, its pools settled
            report.put(("storm", storm, cut, back_s))
            await asyncio.sleep(1.0)  # the main process reads the server's RSS meanwhile
        report.put(("cost", fleet.cost()))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _client(url: str, count: int, hold_s: float, heartbeat_s: float, report: multiprocessing.Queue, load: Load) -> None:  # type: ignore[type-arg]
    asyncio.run(hold_connections(url, count, hold_s, heartbeat_s, report, load))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chargers", type=int, default=10_000)
    parser.add_argument("--hold", type=float, default=20.0, help="seconds to hold all connections")
    parser.add_argument("--heartbeat", type=float, default=10.0)
    parser.add_argument("--storms", type=int, default=0, help="cut and reconnect every charger this many times")
    parser.add_argument("--deflate", action="store_true", help="chargers offer permessage-deflate")
    parser.add_argument("--server-deflate", action="store_true", help="the server takes it")
    args = parser.parse_args()
    load = Load(storms=args.storms, deflate=args.deflate)
    after_storm: list[int] = []
    raise_fd_limit()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {
            **os.environ,
            "COOPGRID_HTTP__PORT": str(port),
            "COOPGRID_DATABASE__URL": f"sqlite+aiosqlite:///{tmp}/conn.db",
            "COOPGRID_LOG_LEVEL": "WARNING",
            "COOPGRID_OCPP__HEARTBEAT_INTERVAL_S": "60",
            "COOPGRID_OCPP__WEBSOCKET_COMPRESSION": "true" if args.server_deflate else "false",
        }
        server = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"], env=env, cwd=ROOT)
        try:
            wait_port(port)
            idle_rss = rss_kib(server.pid)
            report: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
            client = multiprocessing.Process(
                target=_client,
                args=(f"ws://127.0.0.1:{port}/ocpp", args.chargers, args.hold, args.heartbeat, report, load),
            )
            client.start()
            peak = idle_rss
            up = cost = None
            while cost is None:
                while not report.empty():
                    message = report.get()
                    if message[0] == "cost":
                        cost = message[1]
                    elif message[0] == "storm":
                        after_storm.append(rss_kib(server.pid))
                        print(
                            f"storm {message[1]}: {message[2]} cut, all back in {message[3]:.1f} s, "
                            f"server RSS {after_storm[-1] / 1024:.0f} MiB",
                            flush=True,
                        )
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
    if after_storm:
        offered = "offered" if args.deflate else "not offered"
        taken = "taken" if args.server_deflate else "declined"
        print(f"storms              : {len(after_storm)} (permessage-deflate {offered}, {taken} by the server)")
        print(
            f"RSS after storm 1 / {len(after_storm)}: {after_storm[0] / 1024:.0f} / {after_storm[-1] / 1024:.0f} MiB "
            f"(ratio {after_storm[-1] / after_storm[0]:.3f}, target <= 1.10)"
        )
    assert cost is not None
    print(
        f"simulator (one process, lightweight mode): {cost['rss_kib_per_charger']:.1f} KiB RSS and "
        f"{cost['cpu_percent_per_1000']:.2f} % of a CPU per 1,000 chargers"
    )


if __name__ == "__main__":
    main()
