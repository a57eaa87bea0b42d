"""Schemathesis generates requests from /api/openapi.json against a running `coopgrid serve`: no 5xx."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
TOKEN = "schemathesis-operator-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "COOPGRID_HTTP__PORT": str(port),
        "COOPGRID_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'api.db'}",
        "COOPGRID_OPERATOR_TOKEN": TOKEN,
        "COOPGRID_LOG_LEVEL": "WARNING",
        "COOPGRID_SITES": '[{"id": "site-a"}]',
        "COOPGRID_CHARGERS": '[{"id": "CP-A", "site_id": "site-a"}]',
        "COOPGRID_OCPP__RESPONSE_TIMEOUT_S": "1",
    }
    log = (tmp_path / "server.log").open("w")
    command = [sys.executable, "-m", "gateway.cli", "serve"]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert process.poll() is None, (tmp_path / "server.log").read_text()
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(20)
    log.close()
    errors = [line for line in (tmp_path / "server.log").read_text().splitlines() if " ERROR " in line]
    assert not errors, errors


def test_no_server_errors_anywhere_in_the_api(server: str, tmp_path: Path) -> None:
    schemathesis = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"{server}/api/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,  # its own state folder goes there, not into the repository
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
