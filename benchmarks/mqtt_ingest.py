"""MQTT ingest: CoopGrid's full solar pipeline against a bare aiomqtt subscriber, through a real Mosquitto.

Starts a Mosquitto on a free loopback port (no limit on queued messages).
Then, in turn:
(a) `coopgrid serve` (SQLite) with a park of N inverters: every message goes
    through the bus, the adapter, validation, liveness, the energy intervals,
    events, the scheduler's trigger and the metrics;
(b) a bare aiomqtt subscriber (a separate process) that only counts;
(c) two `coopgrid serve` processes with a share group: each message parsed
    by one of them and passed on to both (the rate is per instance, until
    both have taken every reading).
Each subscribes once with a persistent session and goes away; a separate
publisher process then publishes the same stream (N inverters, native
telemetry, QoS 1) into the broker, which queues it for the session; the
subscriber comes back and drains the queue as fast as it can. So the rate is
the subscriber's, not the publisher's: time from its first message to its
last. Prints messages/s for both, the ratio a/b, and how many messages each
lost (target: none at QoS 1).

    .venv/bin/python benchmarks/mqtt_ingest.py [--inverters 20] [--messages 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ocpp_throughput import ROOT, free_port, start_mosquitto, stop, wait_port  # noqa: E402

START = datetime(2026, 6, 1, 10, tzinfo=UTC)


def config(inverters: int) -> str:
    lines = [
        'log_level = "WARNING"',
        '[[cooperatives]]\nid = "coop"\nmembers = [{ id = "m1" }]',
        '[[parks]]\nid = "park-1"\nmember_id = "m1"\ninverters = ['
        + ", ".join(f'{{ id = "inv-{i}", rated_power_w = 10000 }}' for i in range(inverters))
        + "]",
    ]
    return "\n\n".join(lines) + "\n"


def _publisher(port: int, inverters: int, messages: int, started: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    async def one(index: int) -> None:
        async with aiomqtt.Client("127.0.0.1", port, identifier=f"bench-pub-{index}") as client:
            energy = 1_000_000.0 + index
            for n in range(messages):
                energy += 1.0
                payload = {
                    "ts": (START + timedelta(seconds=n)).isoformat(),
                    "ac_power_w": 3600.0,
                    "energy_wh": energy,
                }
                await client.publish(f"coopgrid/solar/park-1/inv-{index}/telemetry", json.dumps(payload), qos=1)

    async def run() -> None:
        started.put(time.monotonic())
        await asyncio.gather(*(one(i) for i in range(inverters)))

    asyncio.run(run())


def _counter(port: int, expected: int, out: multiprocessing.Queue, subscribe_only: bool) -> None:  # type: ignore[type-arg]
    async def run() -> None:
        count, first = 0, 0.0
        async with aiomqtt.Client("127.0.0.1", port, identifier="bench-bare", clean_session=False) as client:
            if subscribe_only:
                await client.subscribe("coopgrid/solar/+/+/telemetry", qos=1)
                return
            try:
                async with asyncio.timeout(120):
                    async for _ in client.messages:
                        count += 1
                        if count == 1:
                            first = time.monotonic()
                        if count == expected:
                            break
            except TimeoutError:
                pass
        out.put((first, time.monotonic(), count))

    asyncio.run(run())


def publish(port: int, inverters: int, messages: int) -> None:
    """Publish the whole stream and wait until the broker has it all."""
    started: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    process = multiprocessing.Process(target=_publisher, args=(port, inverters, messages, started))
    process.start()
    started.get(timeout=30)
    process.join(600)


def taken(http_port: int) -> tuple[int, int]:
    """(readings applied or seen crossing, messages parsed) of one instance."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/solar/rejects", timeout=5) as response:  # noqa: S310 - loopback
        body = json.load(response)
    return int(body["accepted"]) + int(body["counts"].get("out_of_order_or_duplicate", 0)), int(body["parsed"])


def run_coopgrid(
    mqtt_port: int, tmp: str, inverters: int, messages: int, instances: int = 1, share_group: str | None = None
) -> dict[str, Any]:
    """The stream into `instances` CoopGrid processes; done when every instance has taken every reading."""
    Path(tmp, "ingest.toml").write_text(config(inverters), encoding="utf-8")
    tag = f"{instances}{share_group or ''}"

    def serve(index: int) -> tuple[subprocess.Popen[bytes], int]:
        http_port = free_port()
        env = {
            **os.environ,
            "COOPGRID_HTTP__HOST": "127.0.0.1",
            "COOPGRID_HTTP__PORT": str(http_port),
            "COOPGRID_HTTP__AUTH": "false",
            "COOPGRID_DATABASE__URL": f"sqlite+aiosqlite:///{tmp}/ingest-{tag}-{index}.db",
            "COOPGRID_MQTT__URL": f"mqtt://127.0.0.1:{mqtt_port}",
            "COOPGRID_MQTT__CLIENT_ID": f"coopgrid-ingest-bench-{tag}-{index}",
            "COOPGRID_INSTANCE_ID": f"bench-{index}",
            "COOPGRID_SOLAR__STALE_AFTER_S": "600",
            **({"COOPGRID_MQTT__SHARE_GROUP": share_group} if share_group else {}),
        }
        argv = [sys.executable, "-m", "gateway.cli", "serve", "--config", f"{tmp}/ingest.toml"]
        server = subprocess.Popen(argv, env=env, cwd=ROOT)
        wait_port(http_port)
        return server, http_port

    servers = [serve(i) for i in range(instances)]  # subscribe once: the broker keeps the sessions
    time.sleep(1.0)
    for server, _ in servers:
        stop(server)  # type: ignore[arg-type]
    publish(mqtt_port, inverters, messages)
    servers = [serve(i) for i in range(instances)]
    total = inverters * messages
    try:
        first = None
        counts, at_first, last_change = [0] * instances, 0, time.monotonic()
        while True:
            now = time.monotonic()
            looked = [taken(port) for _, port in servers]
            seen = [count for count, _ in looked]
            if any(seen) and first is None:  # the rate counts only what came after this first look
                first, at_first = now, sum(seen)
            if seen != counts:
                counts, last_change = seen, now
            if min(seen) >= total or now - last_change > 10:
                break
            time.sleep(0.02)
        seconds = last_change - (first or last_change)
        timed = (sum(seen) - at_first) / instances  # what each instance took, on average, while timed
        return {
            "messages": min(seen),
            "timed": timed,
            "seconds": seconds,
            "lost": total - min(seen),
            "parsed": [parsed for _, parsed in looked],
        }
    finally:
        for server, _ in servers:
            stop(server)  # type: ignore[arg-type]


def run_bare(mqtt_port: int, inverters: int, messages: int) -> dict[str, float]:
    total = inverters * messages
    out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    subscribe = multiprocessing.Process(target=_counter, args=(mqtt_port, total, out, True))
    subscribe.start()
    subscribe.join(30)
    publish(mqtt_port, inverters, messages)
    counter = multiprocessing.Process(target=_counter, args=(mqtt_port, total, out, False))
    counter.start()
    first, finished, count = out.get(timeout=300)
    counter.join(10)
    return {"messages": count, "seconds": finished - first, "lost": total - count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inverters", type=int, default=20)
    parser.add_argument("--messages", type=int, default=2000, help="per inverter")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_mosquitto(Path(tmp), "max_queued_messages 0\nmax_inflight_messages 0\n")  # no queue limit
        if broker is None:
            sys.exit("mosquitto is not installed (apt-get install mosquitto)")
        mosquitto, port = broker
        try:
            print(f"(a) CoopGrid ingest, {args.inverters} inverters x {args.messages} messages ...", flush=True)
            a = run_coopgrid(port, tmp, args.inverters, args.messages)
            print("(b) bare aiomqtt subscriber ...", flush=True)
            b = run_bare(port, args.inverters, args.messages)
            print("(c) two CoopGrid instances sharing the ingest ($share/bench/...) ...", flush=True)
            c = run_coopgrid(port, tmp, args.inverters, args.messages, instances=2, share_group="bench")
        finally:
            stop(mosquitto)
    total = args.inverters * args.messages
    print(f"\nnative telemetry, QoS 1, {total} messages from {args.inverters} publishers, {os.cpu_count()} CPUs")
    print(f"{'subscriber':<22}{'msgs/s':>10}{'messages':>10}{'lost':>6}{'seconds':>9}")
    for label, row in (("a coopgrid ingest", a), ("b bare aiomqtt", b), ("c 2 instances, shared", c)):
        rate = row.get("timed", row["messages"]) / row["seconds"] if row["seconds"] > 0 else 0.0
        row["rate"] = rate
        print(f"{label:<22}{rate:>10.0f}{row['messages']:>10.0f}{row['lost']:>6.0f}{row['seconds']:>9.2f}")
    print(f"\na/b = {a['rate'] / b['rate']:.2f}  (target >= 0.5, no message lost)")
    print(
        f"c: parsed {' + '.join(str(n) for n in c['parsed'])} of {total} (each message once, spread by the broker); "
        f"every instance took all {c['messages']:.0f}; c/a = {c['rate'] / a['rate']:.2f}"
    )


if __name__ == "__main__":
    main()
