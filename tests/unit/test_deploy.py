"""The deployment files: the compose stack mounts files that exist, configs load, the unit runs `serve`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from gateway.settings import load_settings

DEPLOY = Path(__file__).parents[2] / "deploy"


def test_compose_services_and_mounts() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert set(compose["services"]) == {"coopgrid", "mosquitto", "postgres", "influxdb", "grafana"}
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{source} is mounted but missing"
    build = compose["services"]["coopgrid"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).exists()


@pytest.mark.parametrize("name", ["coopgrid.toml", "production.toml"])
def test_sample_configs_load(name: str) -> None:
    settings = load_settings(DEPLOY / name)
    assert settings.sites


def test_systemd_unit_serves_the_config() -> None:
    unit = (DEPLOY / "coopgrid.service").read_text(encoding="utf-8")
    assert "ExecStart=/opt/coopgrid/.venv/bin/coopgrid serve --config /etc/coopgrid/coopgrid.toml" in unit


def test_the_scale_out_stack_balances_websockets_over_distinct_instances() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.scale-out.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    instances = {name: s for name, s in services.items() if name.startswith("coopgrid-")}
    assert len(instances) >= 2
    ids = {s["environment"]["COOPGRID_INSTANCE_ID"] for s in instances.values()}
    clients = {s["environment"]["COOPGRID_MQTT__CLIENT_ID"] for s in instances.values()}
    assert len(ids) == len(clients) == len(instances)  # each its own id and its own broker session
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{source} is mounted but missing"
    config = (DEPLOY / "haproxy.cfg").read_text(encoding="utf-8")
    assert "timeout tunnel" in config  # WebSockets outlive ordinary HTTP timeouts
    assert "option httpchk GET /healthz" in config
    for name in instances:
        assert f"server {name} {name}:8080 check" in config
    load_settings(DEPLOY / "production.toml")  # what every instance mounts


# -- a deployment that starts -------------------------------------------------------------------------------


def _compose(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))
    return loaded


def _paths(value: object) -> Iterator[tuple[str, object]]:
    """Every (dotted name, value) of a settings model, lists and sections included."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            for where, inner in _paths(getattr(value, name)):
                yield (f"{name}.{where}" if where else name), inner
    elif isinstance(value, list):
        for index, item in enumerate(value):
            for where, inner in _paths(item):
                yield f"{index}.{where}", inner
    else:
        yield "", value


@pytest.mark.parametrize("name", ["coopgrid.toml", "production.toml"])
def test_sample_configs_name_absolute_paths(name: str) -> None:
    settings = load_settings(DEPLOY / name)
    for where, value in _paths(settings):
        if isinstance(value, Path):
            assert value.is_absolute(), f"{name}: {where} = {value} is relative to the working directory"
    url = settings.database.url
    if url.startswith("sqlite"):  # sqlite+aiosqlite:///x is ./x; an absolute path takes a fourth slash
        assert url.split(":///", 1)[1].startswith("/"), f"{name}: database.url {url} is a relative path"
    text = (DEPLOY / name).read_text(encoding="utf-8")
    for commented in re.findall(r'^#\s*\w+ = "(sqlite[^"]*|/[^"]*|\.[^"]*)"', text, flags=re.MULTILINE):
        assert commented.startswith(("/", "sqlite+aiosqlite:////")), f"{name}: commented {commented} is relative"


@pytest.mark.parametrize("name", ["compose.yaml", "compose.scale-out.yaml"])
def test_compose_waits_on_health_checks(name: str) -> None:
    services = _compose(name)["services"]
    for service_name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{service_name}: depends_on without conditions waits for nothing"
        for dependency, how in depends.items():
            assert how == {"condition": "service_healthy"}, f"{service_name} -> {dependency}: {how}"
            assert "healthcheck" in services[dependency], f"{dependency} has no health check to wait on"
    for needed in ("postgres", "mosquitto"):
        assert "healthcheck" in services[needed]
    instances = [s for n, s in services.items() if n.startswith("coopgrid")]
    assert instances
    assert all("healthz" in " ".join(s["healthcheck"]["test"]) for s in instances)


@pytest.mark.parametrize("name", ["compose.yaml", "compose.scale-out.yaml"])
def test_compose_mounts_one_data_volume_at_the_data_directory(name: str) -> None:
    compose = _compose(name)
    instances = [s for n, s in compose["services"].items() if n.startswith("coopgrid")]
    sources = set()
    for service in instances:
        mounted = dict(volume.rsplit(":", 1)[::-1] for volume in service["volumes"] if volume.count(":") == 1)
        assert "/var/lib/coopgrid" in mounted, "the data directory (the CA, production.toml) is not a volume"
        sources.add(mounted["/var/lib/coopgrid"])
    assert len(sources) == 1  # scale-out: every instance signs with the one CA
    assert sources <= set(compose["volumes"])  # a named volume, declared
    ca = load_settings(DEPLOY / "production.toml").ocpp.ca_cert
    assert ca is not None
    assert ca.is_relative_to("/var/lib/coopgrid")


def test_the_image_makes_the_data_directory_for_its_user() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"install -d -o coopgrid -g coopgrid\b.* /var/lib/coopgrid", dockerfile)
    assert "USER coopgrid" in dockerfile
    assert "HEALTHCHECK" in dockerfile


def _compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.skip("neither `docker compose` (the compose plugin) nor docker-compose is installed")


@pytest.mark.parametrize("name", ["compose.yaml", "compose.scale-out.yaml"])
def test_docker_compose_validates_the_stack(name: str, tmp_path: Path) -> None:
    command = _compose_command()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "COOPGRID_OPERATOR_TOKEN": "t" * 32}
    done = subprocess.run(
        [*command, "-f", str(DEPLOY / name), "config"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert resolved["services"]  # what compose makes of it still has the services
    unset = subprocess.run(
        [*command, "-f", str(DEPLOY / name), "config"],
        capture_output=True,
        text=True,
        env={**env, "COOPGRID_OPERATOR_TOKEN": ""},
        timeout=60,
        check=False,
    )
    assert unset.returncode != 0
    assert "set an operator token" in unset.stderr
