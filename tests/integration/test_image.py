"""The image builds, runs as its own user and owns its data directory: where a Docker daemon can build.

Skipped, with the reason, where there is no daemon or the daemon cannot fetch the base image (no network).
A build takes a minute or more from a cold cache: marked `docker` (deselect with -m "not docker")."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.timeout(900)]

ROOT = Path(__file__).parents[2]
# What a daemon says when it cannot reach a registry for the base image.
_NO_NETWORK = ("dial tcp", "no such host", "i/o timeout", "failed to resolve source metadata", "TLS handshake timeout",
               "connection refused", "network is unreachable", "failed to do request")  # fmt: skip


def _docker() -> str:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not installed")
    info = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip
    if info.returncode != 0:
        pytest.skip(f"the Docker daemon is unreachable: {' '.join(info.stderr.split())[:200]}")
    return docker


def test_the_image_builds_and_its_user_owns_the_data_directory() -> None:
    docker = _docker()
    tag = f"coopgrid-test:{uuid.uuid4().hex[:12]}"
    build = subprocess.run(
        [docker, "build", "-f", str(ROOT / "deploy" / "Dockerfile"), "-t", tag, str(ROOT)],
        capture_output=True, text=True, timeout=840, check=False,
    )  # fmt: skip
    if build.returncode != 0 and any(sign in build.stderr for sign in _NO_NETWORK):
        pytest.skip(f"the daemon cannot fetch the base image (no network): {build.stderr.strip().splitlines()[-1]}")
    assert build.returncode == 0, build.stderr[-4000:]
    try:
        owner = subprocess.run(
            [docker, "run", "--rm", "--network", "none", "--entrypoint", "sh", tag, "-c",
             "id -un; stat -c %U /var/lib/coopgrid; touch /var/lib/coopgrid/probe && echo writable"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert owner.stdout.split() == ["coopgrid", "coopgrid", "writable"], owner.stderr
        helped = subprocess.run([docker, "run", "--rm", "--network", "none", tag, "--help"], capture_output=True,
                                text=True, timeout=120, check=False)  # fmt: skip
        assert helped.returncode == 0
        assert "serve" in helped.stdout
    finally:
        subprocess.run([docker, "rmi", "-f", tag], capture_output=True, timeout=120, check=False)
