"""The broker `coopgrid serve` starts when none is configured (issue 20, item 4), and what a charger
offering permessage-deflate gets (item 3). Real processes: Mosquitto started by the platform."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from chargepoints.session import OcppSession
from gateway import broker
from tests.fixtures.engines import ROOT, free_port, wait_port
from tests.fixtures.platform import make_settings, running_platform
from tests.fixtures.services import require_binary
from tests.protocol.ocpp_client import Client

pytestmark = pytest.mark.integration


def mosquitto() -> str:
    return require_binary("mosquitto", broker.mosquitto_binary() or "mosquitto")


async def test_without_a_broker_url_mosquitto_is_started_and_stopped_with_the_platform(tmp_path: Path) -> None:
    mosquitto()
    async with running_platform(make_settings(tmp_path)) as platform:
        assert platform.broker_kind == "mosquitto"
        await asyncio.wait_for(platform.bus.connected.wait(), 10)
        port = platform.mqtt_port
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
    with pytest.raises(ConnectionRefusedError):  # gone with it
        await asyncio.open_connection("127.0.0.1", port)


async def test_amqtt_when_asked_or_when_mosquitto_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_platform(make_settings(tmp_path, mqtt={"embedded": "amqtt"})) as platform:
        assert platform.broker_kind == "amqtt"
    monkeypatch.setattr(broker, "mosquitto_binary", lambda: None)
    async with running_platform(make_settings(tmp_path)) as platform:
        assert platform.broker_kind == "amqtt"
    with pytest.raises(RuntimeError, match="mqtt.embedded = 'mosquitto'"):
        async with running_platform(make_settings(tmp_path, mqtt={"embedded": "mosquitto"})):
            pass


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(child) for child in children]
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie has exited: only its parent has not reaped it yet)."""
    try:
        return ") Z " not in Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except FileNotFoundError:
        return False


def test_a_killed_serve_takes_its_mosquitto_with_it(tmp_path: Path) -> None:
    mosquitto()
    port = free_port()
    env = {
        **os.environ,
        "COOPGRID_HTTP__PORT": str(port),
        "COOPGRID_HTTP__AUTH": "false",
        "COOPGRID_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'k.db'}",
        "COOPGRID_LOG_LEVEL": "WARNING",
    }
    env.pop("COOPGRID_MQTT__URL", None)
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve"], env=env, cwd=ROOT, stdout=log, stderr=log
    )
    try:
        wait_port(port, 60, process)
        children = [c for c in _children(process.pid) if "mosquitto" in Path(f"/proc/{c}/cmdline").read_text()]
        assert len(children) == 1
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        deadline = time.monotonic() + 10
        while _alive(children[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(children[0])
    finally:
        if process.poll() is None:
            process.kill()
        log.close()


@pytest.mark.parametrize("compression", [False, True])
async def test_deflate_is_what_the_setting_says_and_no_session_outlives_its_connection(
    tmp_path: Path, compression: bool
) -> None:
    settings = make_settings(tmp_path, chargers=[], ocpp={"websocket_compression": compression})
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        for storm in range(3):
            sockets = []
            for n in range(20):  # every charger offers permessage-deflate (as the websockets library does)
                ws = await http.ws_connect(f"{platform.ocpp_url}/CP-{n}", protocols=("ocpp1.6",), compress=15)
                assert ws.compress == (15 if compression else 0)
                boot = {"chargePointVendor": "V", "chargePointModel": "M"}
                assert (await Client(ws).call(f"b{storm}", "BootNotification", boot))[0] == 3
                sockets.append(ws)
            gc.collect()
            assert sum(isinstance(o, OcppSession) for o in gc.get_objects()) == 20
            for ws in sockets[:10]:
                await ws.close()
            for ws in sockets[10:]:  # and ten that vanish without a close frame
                ws._response.connection.transport.abort()  # type: ignore[union-attr]
            for _ in range(100):
                if not any(platform.central.is_connected(f"CP-{n}") for n in range(20)):
                    break
                await asyncio.sleep(0.05)
            gc.collect()
            assert sum(isinstance(o, OcppSession) for o in gc.get_objects()) == 0  # none left after the storm
