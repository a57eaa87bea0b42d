"""The broker CoopGrid starts for itself when none is configured (`mqtt.url` unset).

`mqtt.embedded = "auto"` (the default) starts Mosquitto, when its binary is installed, as a child process on
a free loopback port: amqtt, the pure-Python broker, times out on PUBACKs with thousands of chargers'
statuses and meter values flowing through it, and Mosquitto does not. Without Mosquitto it falls back to
amqtt in the same process (fine for the demo and a few hundred chargers). "mosquitto" insists on it (start-up
fails naming the setting when it is missing); "amqtt" always takes the embedded one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from gateway.bus import embedded_broker, free_port
from gateway.settings import Settings

log = logging.getLogger(__name__)

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
_PR_SET_PDEATHSIG = 1


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((path for path in MOSQUITTO_PATHS if Path(path).is_file()), None)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """The broker goes when CoopGrid goes, even by SIGKILL (Linux: the parent-death signal)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def mosquitto_config(port: int) -> str:
    return "\n".join([
        f"listener {port} 127.0.0.1",
        # run as who we are: Mosquitto started as root would switch to its own user, and a change of
        # credentials clears the parent-death signal
        f"user {pwd.getpwuid(os.getuid()).pw_name}",
        "allow_anonymous true",
        "persistence false",
        "max_queued_messages 100000",  # a slow subscriber's QoS 1 backlog is kept, not dropped at 1,000
        "max_inflight_messages 1000",
        "log_type error",
        "log_type warning",
        "",
    ])  # fmt: skip


@contextlib.asynccontextmanager
async def child_mosquitto(binary: str) -> AsyncIterator[tuple[str, int]]:
    """Mosquitto on a free loopback port, for as long as the context lasts."""
    with tempfile.TemporaryDirectory(prefix="coopgrid-mosquitto-") as tmp:
        port = free_port()
        config = Path(tmp) / "mosquitto.conf"
        config.write_text(mosquitto_config(port))
        process = subprocess.Popen(  # noqa: ASYNC220 - started once, then only waited on with asyncio
            [binary, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks taken
        )
        try:
            for _ in range(200):
                if process.poll() is not None:
                    error = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
                    raise RuntimeError(f"mosquitto exited at start ({process.returncode}): {error[:300]}")
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                await asyncio.sleep(0.025)
            else:
                raise RuntimeError(f"mosquitto did not listen on 127.0.0.1:{port} within 5 s")
            yield "127.0.0.1", port
        finally:
            process.terminate()
            try:
                await asyncio.wait_for(asyncio.to_thread(process.wait), 5)
            except TimeoutError:
                process.kill()
                await asyncio.to_thread(process.wait)


@contextlib.asynccontextmanager
async def local_broker(kind: str) -> AsyncIterator[tuple[str, int, str]]:
    """Yields (host, port, what it is): "mosquitto" or "amqtt"."""
    binary = mosquitto_binary() if kind in ("auto", "mosquitto") else None
    if kind == "mosquitto" and binary is None:
        raise RuntimeError("mqtt.embedded = 'mosquitto', but no mosquitto binary is installed")
    if binary is not None:
        async with child_mosquitto(binary) as (host, port):
            yield host, port, "mosquitto"
        return
    async with embedded_broker() as (host, port):
        yield host, port, "amqtt"


def persistent_session(settings: Settings) -> bool:
    """Keep an MQTT session on the broker across restarts: with an external broker and a stable client id.

    The default client id names the process (host and pid), a new one at each start: a session kept
    under it would never be resumed, only fill the broker's queue. So the session persists when
    `mqtt.client_id` or `instance_id` is set; otherwise CoopGrid says how to get one.
    """
    if not (settings.mqtt.url and settings.mqtt.persistent_session):
        return False  # the embedded broker goes with the process: nothing to keep a session in
    if settings.mqtt.client_id or "instance_id" in settings.model_fields_set:
        return True
    log.warning(
        "mqtt: no persistent session (telemetry published while CoopGrid restarts is lost): "
        "set mqtt.client_id or instance_id (COOPGRID_MQTT__CLIENT_ID / COOPGRID_INSTANCE_ID) to a stable name"
    )
    return False
