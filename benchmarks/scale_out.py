"""Scale-out: OCPP throughput and connected chargers with one and with two `coopgrid serve` instances.

Both configurations run on the engines of a production deployment: one
Mosquitto and one PostgreSQL (started here on free loopback ports), every
instance a `coopgrid serve` process of its own. The load comes from a separate
process and spreads chargers over the instances round-robin, as a
WebSocket-aware load balancer would.

(1) throughput: N charge points, each with an open transaction, sending
    MeterValues request/response as fast as they can for D seconds
    (the load of benchmarks/ocpp_throughput.py);
(2) connections: M charge points connect and boot, and stay connected; the
    figure is how many each instance reports connected (REST), the time to
    get there and each instance's resident memory.

    .venv/bin/python benchmarks/scale_out.py [--chargers 200] [--seconds 10] [--connections 6000]

On this 2-core machine the instances and the load generator share two cores,
so a second instance adds no CPU: the figure shows what the cluster costs
(cross-instance event mirroring over MQTT, PostgreSQL instead of SQLite)
rather than what a second machine would add.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ocpp_throughput import ROOT, _answer, free_port, meter_frame, start_mosquitto, stop, wait_port  # noqa: E402


# -- engines -------------------------------------------------------------------------------------------
def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def start_postgres(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    bin_dir = str(Path(found[-1]).parent) if found else str(Path(shutil.which("initdb") or "initdb").parent)
    data = root / "pg"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    subprocess.run(
        _as_postgres([f"{bin_dir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    port = free_port()
    argv = [f"{bin_dir}/postgres", "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(root), "-F"]
    process = subprocess.Popen(_as_postgres([*argv, "-c", "max_connections=200"]), stdout=subprocess.DEVNULL)
    for _ in range(400):
        ready = [f"{bin_dir}/pg_isready", "-h", "127.0.0.1", "-p", str(port)]
        if subprocess.run(ready, capture_output=True, check=False).returncode == 0:
            break
        time.sleep(0.05)
    return process, f"{bin_dir}|{data}|postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"


def stop_postgres(process: subprocess.Popen[bytes], handle: str) -> None:
    bin_dir, data, _ = handle.split("|")
    subprocess.run(
        _as_postgres([f"{bin_dir}/pg_ctl", "stop", "-D", data, "-m", "fast", "-w"]), check=False, capture_output=True
    )
    process.wait(30)


def create_database(handle: str, name: str) -> str:
    bin_dir, _, url = handle.split("|")
    port = url.rsplit(":", 1)[1].split("/")[0]
    subprocess.run(
        [f"{bin_dir}/createdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres", name], check=True, capture_output=True
    )
    return url.rsplit("/", 1)[0] + f"/{name}"


def start_instances(
    count: int, database: str, broker_port: int, root: Path
) -> list[tuple[subprocess.Popen[bytes], int]]:
    instances = []
    for index in range(count):
        port = free_port()
        env = {
            **os.environ,
            "COOPGRID_INSTANCE_ID": f"bench-{index}",
            "COOPGRID_HTTP__PORT": str(port),
            "COOPGRID_HTTP__AUTH": "false",
            "COOPGRID_DATABASE__URL": database,
            "COOPGRID_MQTT__URL": f"mqtt://127.0.0.1:{broker_port}",
            "COOPGRID_ID_TAGS": '[{"id": "BENCH"}]',
            "COOPGRID_LOG_LEVEL": "WARNING",
        }
        log = (root / f"instance-{index}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve"], env=env, cwd=ROOT, stdout=log, stderr=log
        )
        wait_port(port)
        instances.append((process, port))
    return instances


def connected(port: int) -> int:
    """Chargers connected anywhere in the cluster, as this instance sees them (REST)."""
    url = f"http://127.0.0.1:{port}/api/chargepoints?connected=true&limit=1"
    with urllib.request.urlopen(url, timeout=30) as response:
        return int(response.headers["X-Total-Count"])


def connected_here(port: int) -> int:
    """Chargers connected to this instance (its coopgrid_chargers_connected gauge)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("coopgrid_chargers_connected "):
                return int(float(line.split()[1]))
    return 0


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# -- load (a separate process) ------------------------------------------------------------------------
async def meter_charger(url: str, index: int, deadline_holder: list[float], latencies: list[float]) -> int:
    import aiohttp

    calls = 0
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}/SCALE-{index}", protocols=("ocpp1.6",)) as ws:
        await ws.send_str(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "B", "chargePointModel": "B"}]))
        await _answer(ws, "b")
        start = {
            "connectorId": 1,
            "idTag": "BENCH",
            "meterStart": 0,
            "timestamp": f"2026-11-22T12:{index % 60:02d}:00Z",
        }
        await ws.send_str(json.dumps([2, "s", "StartTransaction", start]))
        transaction_id = (await _answer(ws, "s"))["transactionId"]
        while not deadline_holder:  # noqa: ASYNC110 - a start line shared by every charger
            await asyncio.sleep(0.01)
        energy = 0
        while time.perf_counter() < deadline_holder[0]:
            energy += 10
            sent = time.perf_counter()
            await ws.send_str(meter_frame(str(calls), transaction_id, energy))
            await _answer(ws, str(calls))
            latencies.append(time.perf_counter() - sent)
            calls += 1
    return calls


async def throughput(urls: list[str], chargers: int, seconds: float) -> tuple[int, list[float], float]:
    deadline: list[float] = []
    latencies: list[float] = []
    tasks = [asyncio.create_task(meter_charger(urls[i % len(urls)], i, deadline, latencies)) for i in range(chargers)]
    await asyncio.sleep(min(8.0, 0.03 * chargers))
    started = time.perf_counter()
    deadline.append(started + seconds)
    counts = await asyncio.gather(*tasks)
    return sum(counts), sorted(latencies), time.perf_counter() - started


async def hold(urls: list[str], count: int, ports: list[int], queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import aiohttp

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    booted = 0
    release = asyncio.Event()

    async def one(http: aiohttp.ClientSession, index: int) -> None:
        nonlocal booted
        for _ in range(20):
            try:
                async with http.ws_connect(f"{urls[index % len(urls)]}/HOLD-{index}", protocols=("ocpp1.6",)) as ws:
                    boot = {"chargePointVendor": "B", "chargePointModel": "B"}
                    await ws.send_str(json.dumps([2, "b", "BootNotification", boot]))
                    await _answer(ws, "b")
                    booted += 1
                    reader = asyncio.create_task(_drain(ws))
                    await release.wait()
                    reader.cancel()
                    return
            except (aiohttp.ClientError, TimeoutError, OSError):
                await asyncio.sleep(1.0)

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        tasks = [asyncio.create_task(one(http, i)) for i in range(count)]
        while booted < count and time.perf_counter() - started < 300:  # noqa: ASYNC110 - polled progress
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(3.0)  # held a moment; then counted on every instance
        queue.put((booted, elapsed))
        while True:
            await asyncio.sleep(0.2)
            if Path(f"/tmp/scale-out-release-{os.getppid()}").exists():  # noqa: ASYNC240 - a poll
                break
        release.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _drain(ws: object) -> None:
    """Answer the central system's calls after boot (configuration reads)."""
    async for message in ws:  # type: ignore[attr-defined]
        frame = json.loads(message.data)
        if frame[0] == 2:
            await ws.send_str(json.dumps([3, frame[1], {"configurationKey": []}]))  # type: ignore[attr-defined]


def _throughput_process(urls: list[str], chargers: int, seconds: float, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(asyncio.run(throughput(urls, chargers, seconds)))


def _hold_process(urls: list[str], count: int, ports: list[int], queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    asyncio.run(hold(urls, count, ports, queue))


def measure(instances: int, args: argparse.Namespace, handle: str, broker_port: int, root: Path) -> dict[str, float]:
    database = create_database(handle, f"scale_{instances}_{int(time.time())}")
    running = start_instances(instances, database, broker_port, root)
    try:
        time.sleep(3.0)  # leader elected, subscriptions made
        urls = [f"ws://127.0.0.1:{port}/ocpp" for _, port in running]
        queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        load = multiprocessing.Process(target=_throughput_process, args=(urls, args.chargers, args.seconds, queue))
        load.start()
        calls, latencies, elapsed = queue.get(timeout=args.seconds + 180)
        load.join()
        row = {
            "calls_per_s": calls / elapsed,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        }
        marker = Path(f"/tmp/scale-out-release-{os.getpid()}")
        marker.unlink(missing_ok=True)
        hold_process = multiprocessing.Process(target=_hold_process, args=(urls, args.connections, [], queue))
        hold_process.start()
        booted, connect_s = queue.get(timeout=400)
        per_instance = [connected_here(port) for _, port in running]
        seen, waited = 0, time.monotonic()
        while time.monotonic() - waited < 30:  # every instance sees every charger (status over MQTT)
            seen = min(connected(port) for _, port in running)
            if seen >= booted:
                break
            time.sleep(0.5)
        row.update(
            booted=booted,
            connected=sum(per_instance),
            seen_everywhere=seen,
            seen_after_s=time.monotonic() - waited,
            connect_s=connect_s,
            rss_mib=sum(rss_mib(process.pid) for process, _ in running),
        )
        row["per_instance"] = "/".join(str(n) for n in per_instance)
        marker.touch()
        hold_process.join(60)
        marker.unlink(missing_ok=True)
        return row
    finally:
        for process, _ in running:
            stop(process)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chargers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=6000)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the instances
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="coopgrid-scale-") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o777)
        broker = start_mosquitto(root, "max_queued_messages 100000\n")  # as deploy/mosquitto.conf
        if broker is None:
            raise SystemExit("mosquitto is not installed")
        pg_root = root / "pgroot"
        pg_root.mkdir()
        pg, handle = start_postgres(pg_root)
        try:
            for instances in (1, 2):
                print(f"{instances} instance(s) ...", flush=True)
                results[instances] = measure(instances, args, handle, broker[1], root)
        finally:
            stop_postgres(pg, handle)
            stop(broker[0])
    print(
        f"\nMosquitto + PostgreSQL; MeterValues from {args.chargers} charge points for {args.seconds:g} s; "
        f"{args.connections} held connections; {os.cpu_count()} CPUs"
    )
    print(
        f"{'instances':<10}{'calls/s':>9}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'connected':>11}{'per inst.':>13}{'in s':>7}{'RSS MiB':>9}{'seen by all':>13}"
    )
    for instances, row in results.items():
        print(
            f"{instances:<10}{row['calls_per_s']:>9.0f}{row['p50_ms']:>8.1f}{row['p99_ms']:>8.1f}"
            f"{row['connected']:>11.0f}{row['per_instance']:>13}{row['connect_s']:>7.1f}{row['rss_mib']:>9.0f}"
            f"{row['seen_everywhere']:>8.0f} ({row['seen_after_s']:.0f} s)"
        )
    print(f"\n2 instances / 1 instance: throughput {results[2]['calls_per_s'] / results[1]['calls_per_s']:.2f}")


if __name__ == "__main__":
    main()
