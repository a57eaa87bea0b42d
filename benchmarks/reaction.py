"""Reaction time: from a park's telemetry message to each affected charger receiving its new profile.

Starts a Mosquitto on a free loopback port and `coopgrid serve` (SQLite) with
10 sites of 100 chargers each and one cooperative park. From a separate
process, 1,000 lightweight simulated chargers (simulators/light.py) boot and
start a transaction each. This process publishes the park's native telemetry
once a second at a level that lets every EV charge, waits until the limits
have settled, then publishes one message with the park's output cut by a
quarter, and measures, per charger, the time from that publish to the arrival
of its next SetChargingProfile (one clock: CLOCK_MONOTONIC is system-wide).

For context, not measured: a policy on a fixed tick (evcc's 30 s) reacts
after half a tick on average, 15 s, and after up to 30 s.

    .venv/bin/python benchmarks/reaction.py [--chargers 1000] [--drops 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ocpp_throughput import ROOT, free_port, start_mosquitto, stop, wait_port  # noqa: E402

SITES = 10
MIN_W = 6 * 3 * 230.0  # what one 3-phase EV needs at the minimum


def config(chargers: int) -> str:
    per_site = chargers // SITES
    lines = [
        'log_level = "WARNING"',
        "[scheduler]\ntick_s = 30.0\ndebounce_s = 0.05\nmin_change_a = 0.5",
        "[solar]\nstale_after_s = 30.0",
        '[[cooperatives]]\nid = "coop"\nmembers = [{ id = "m1" }]',
        '[[parks]]\nid = "park-1"\nmember_id = "m1"\ninverters = [{ id = "inv-1", rated_power_w = 20000000 }]',
        '[[id_tags]]\nid = "LOAD-TAG"',
    ]
    for site in range(SITES):
        lines.append(f'[[sites]]\nid = "site-{site}"\ngrid_limit_a = {per_site * 16 + 100}')
    for index in range(chargers):
        lines.append(f'[[chargers]]\nid = "R-{index + 1}"\nsite_id = "site-{index // per_site}"\nmax_current_a = 16')
    return "\n\n".join(lines) + "\n"


def _fleet(url: str, count: int, out: multiprocessing.Queue[Any], done: Event) -> None:
    from simulators.light import LightFleet

    async def run() -> None:
        fleet = LightFleet(
            url, count, prefix="R-", id_tag="LOAD-TAG", meter_s=15.0, heartbeat_s=60.0,
            ramp_per_s=1000, record=frozenset({"SetChargingProfile"}),
        )  # fmt: skip
        task = asyncio.create_task(fleet.run())
        await asyncio.wait_for(fleet.all_up.wait(), 300)
        while fleet.stats.transactions < count:  # noqa: ASYNC110 - a plain counter, polled
            await asyncio.sleep(0.2)
        out.put(("up", fleet.stats.transactions))
        await asyncio.to_thread(done.wait)
        out.put(("received", fleet.received))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())


async def publish(client: aiomqtt.Client, watts: float, energy: list[float]) -> None:
    energy[0] += watts / 3600.0
    payload = {"ts": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "ac_power_w": watts, "energy_wh": energy[0]}
    await client.publish("coopgrid/solar/park-1/inv-1/telemetry", json.dumps(payload), qos=1)


def limit_of(payload: dict[str, object]) -> float:
    profile = payload["csChargingProfiles"]
    return float(profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"])  # type: ignore[index]


async def measure(port: int, count: int, drops: int) -> list[float]:
    """Publish the sun, drop it `drops` times; the monotonic time of each drop's publish."""
    energy = [1_000_000.0]
    high = count * MIN_W * 2.0  # every EV at about 12 A
    async with aiomqtt.Client("127.0.0.1", port, identifier="reaction-bench") as client:
        level = high
        marks: list[float] = []
        for _ in range(drops):
            for _ in range(6):  # steady sun for the limits to settle
                await publish(client, level, energy)
                await asyncio.sleep(1.0)
            level *= 0.75
            marks.append(time.monotonic())
            await publish(client, level, energy)
            for _ in range(3):
                await asyncio.sleep(1.0)
                await publish(client, level, energy)
        return marks  # the received calls come from the fleet process afterwards


def report(marks: list[float], received: list[Any], chargers: int) -> None:
    """Per drop and over all: how long the chargers waited for their new profile."""
    all_latencies: list[float] = []
    for index, mark in enumerate(marks):
        end = marks[index + 1] if index + 1 < len(marks) else float("inf")
        first: dict[str, float] = {}
        for at, charger_id, _, payload in received:
            if mark <= at < end and charger_id not in first and limit_of(payload) >= 0:
                first[charger_id] = at - mark
        latencies = sorted(first.values())
        all_latencies += latencies
        if latencies:
            p50 = statistics.median(latencies)
            p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
            print(
                f"drop {index + 1}: {len(latencies)}/{chargers} chargers got a new profile; "
                f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
            )
        else:
            print(f"drop {index + 1}: no charger got a new profile")
    all_latencies.sort()
    if all_latencies:
        p99 = all_latencies[min(len(all_latencies) - 1, int(0.99 * len(all_latencies)))]
        print(
            f"\nall drops: {len(all_latencies)} profiles; p50 {statistics.median(all_latencies) * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms (target p99 < 1000 ms); a 30 s tick: p50 15000 ms, p99 29700 ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chargers", type=int, default=1000)
    parser.add_argument("--drops", type=int, default=3, help="how many times the park's output falls")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_mosquitto(Path(tmp))
        if broker is None:
            sys.exit("mosquitto is not installed (apt-get install mosquitto)")
        mosquitto, mqtt_port = broker
        http_port = free_port()
        (Path(tmp) / "reaction.toml").write_text(config(args.chargers), encoding="utf-8")
        env = {
            **os.environ,
            "COOPGRID_HTTP__PORT": str(http_port),
            "COOPGRID_HTTP__HOST": "127.0.0.1",
            "COOPGRID_DATABASE__URL": f"sqlite+aiosqlite:///{tmp}/reaction.db",
            "COOPGRID_MQTT__URL": f"mqtt://127.0.0.1:{mqtt_port}",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", f"{tmp}/reaction.toml"], env=env, cwd=ROOT
        )
        try:
            wait_port(http_port)
            out: multiprocessing.Queue[Any] = multiprocessing.Queue()
            done = multiprocessing.Event()
            fleet = multiprocessing.Process(
                target=_fleet, args=(f"ws://127.0.0.1:{http_port}/ocpp", args.chargers, out, done)
            )
            fleet.start()
            kind, started = out.get(timeout=600)
            print(f"{started} chargers charging; the park now drops {args.drops} times by a quarter", flush=True)
            marks = asyncio.run(measure(mqtt_port, args.chargers, args.drops))
            done.set()
            kind, received = out.get(timeout=120)
            fleet.join(30)
        finally:
            stop(server)  # type: ignore[arg-type]
            stop(mosquitto)
    report(marks, received, args.chargers)


if __name__ == "__main__":
    main()
