"""The deployment files: the compose stack mounts files that exist, configs load, the unit runs `serve`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

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
