"""Start-up against a database that is not there yet: one line per attempt, backoff, then it opens.

The database is a real PostgreSQL (tests/fixtures/postgres.py) behind a loopback port that refuses
connections until the test starts forwarding it to the server, as a PostgreSQL still starting in a
compose stack does."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gateway.settings import StartupSettings
from gateway.startup import StartupError, StartupStopped, open_retrying
from gateway.storage import open_store

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _forward(listen_port: int, target_port: int) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    return await asyncio.start_server(handle, "127.0.0.1", listen_port)


async def test_the_database_is_waited_for_with_backoff_and_then_opened(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = make_url(postgres_url)
    port = _free_port()  # nothing listens here yet: connections are refused
    late_url = url.set(port=port).render_as_string(hide_password=False)
    settings = StartupSettings(retry_initial_s=0.1, retry_max_s=0.4)
    caplog.set_level(logging.WARNING, logger="gateway.startup")
    server: asyncio.Server | None = None

    third_refusal = asyncio.Event()

    class Counter(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if sum("unreachable" in r.getMessage() for r in caplog.records) >= 3:
                third_refusal.set()

    logging.getLogger("gateway.startup").addHandler(counter := Counter())

    async def come_up_later() -> None:
        nonlocal server
        await third_refusal.wait()
        server = await _forward(port, int(url.port or 5432))

    starter = asyncio.create_task(come_up_later())
    try:
        async with AsyncExitStack() as stack:
            store = await open_retrying(stack, lambda: open_store(late_url), what="database", settings=settings)
            async with store.engine.connect() as connection:
                assert (await connection.execute(text("select 1"))).scalar() == 1
        await starter
    finally:
        starter.cancel()
        logging.getLogger("gateway.startup").removeHandler(counter)
        if server is not None:
            server.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.startup"]
    assert len(lines) >= 3
    assert all("\n" not in line and "ConnectionRefusedError" in line for line in lines)
    delays = [float(line.rsplit("retrying in ", 1)[1].split()[0]) for line in lines]
    assert delays[:3] == [0.1, 0.2, 0.4]  # doubling up to retry_max_s
    assert all(d <= 0.4 for d in delays)


async def test_giving_up_after_retry_for_s_is_one_startup_error() -> None:
    url = f"postgresql+asyncpg://coopgrid@127.0.0.1:{_free_port()}/coopgrid"
    settings = StartupSettings(retry_initial_s=0.05, retry_max_s=0.1, retry_for_s=0.3)
    async with AsyncExitStack() as stack:
        with pytest.raises(StartupError, match=r"unreachable for \d+ s after \d+ attempts, giving up") as info:
            await open_retrying(stack, lambda: open_store(url), what="database", settings=settings)
    assert "\n" not in str(info.value)


async def test_a_stop_while_waiting_ends_the_wait_at_once() -> None:
    url = f"postgresql+asyncpg://coopgrid@127.0.0.1:{_free_port()}/coopgrid"
    stop = asyncio.Event()
    settings = StartupSettings(retry_initial_s=30.0)
    asyncio.get_running_loop().call_later(0.3, stop.set)
    async with AsyncExitStack() as stack:
        with pytest.raises(StartupStopped):
            await asyncio.wait_for(
                open_retrying(stack, lambda: open_store(url), what="database", settings=settings, stop=stop), 10
            )


async def test_a_refusal_that_waiting_cannot_cure_is_not_retried(postgres_url: str) -> None:
    wrong_database = make_url(postgres_url).set(database="no_such_database").render_as_string(hide_password=False)
    async with AsyncExitStack() as stack:
        with pytest.raises(StartupError, match="InvalidCatalogNameError"):
            await open_retrying(
                stack, lambda: open_store(wrong_database), what="database", settings=StartupSettings(retry_for_s=60)
            )


def _serve(tmp_path: Path, database_url: str, *extra: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "coopgrid.toml"
    config.write_text(
        f'[http]\nhost = "127.0.0.1"\nport = 0\n[database]\nurl = "{database_url}"\n'
        "[startup]\nretry_initial_s = 0.1\nretry_for_s = 0.5\n" + "".join(extra),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOPGRID_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def test_serve_with_an_unreachable_database_says_so_in_lines_not_a_traceback(tmp_path: Path) -> None:
    done = _serve(tmp_path, f"postgresql+asyncpg://coopgrid:secret@127.0.0.1:{_free_port()}/coopgrid")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("coopgrid: database postgresql+asyncpg://coopgrid:***@127.0.0.1:")
    assert "giving up" in last
    assert "secret" not in done.stderr
    assert sum("retrying in" in line for line in done.stderr.splitlines()) >= 2


def test_serve_with_an_unopenable_sqlite_file_says_so_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")
    done = _serve(tmp_path, f"sqlite+aiosqlite:///{blocker}/coopgrid.db")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1:] == [
        f"coopgrid: database sqlite+aiosqlite:///{blocker}/coopgrid.db: "
        f"FileExistsError: [Errno 17] File exists: '{blocker}'"
    ]


def test_serve_with_an_unreachable_broker_serves_and_retries_in_one_line_each(tmp_path: Path) -> None:
    import json
    import signal
    import time
    import urllib.request

    http_port, broker_port = _free_port(), _free_port()
    config = tmp_path / "coopgrid.toml"
    config.write_text(
        f'[http]\nhost = "127.0.0.1"\nport = {http_port}\nauth = false\n'
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{broker_port}"\nclient_id = "startup-test"\nreconnect_max_s = 1\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "c.db"}"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOPGRID_")}
    env["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        health = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=1) as response:
                    health = json.load(response)
                break
            except OSError:
                time.sleep(0.2)
        assert health is not None, "coopgrid serve did not answer while the broker was away"
        assert health["bus_connected"] is False
        time.sleep(2.5)  # a few reconnect rounds
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    retries = [line for line in stderr.splitlines() if f"broker mqtt://127.0.0.1:{broker_port} unavailable" in line]
    assert len(retries) >= 2
    assert all("retrying in" in line for line in retries)
