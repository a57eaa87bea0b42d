"""Settings: TOML file, COOPGRID_* overrides, errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import ConfigError, load_settings

SAMPLE = Path(__file__).parents[2] / "deploy" / "coopgrid.toml"


def test_sample_config_loads() -> None:
    settings = load_settings(SAMPLE)
    assert {s.id for s in settings.sites} == {"site-depot", "site-village"}
    assert settings.mqtt.host_port == ("127.0.0.1", 1883)
    assert settings.chargers[0].security_profile == 1
    assert sum(len(p.inverters) for p in settings.parks) == 5


def test_environment_overrides_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COOPGRID_HTTP__PORT", "9123")
    monkeypatch.setenv("COOPGRID_OCPP__UNKNOWN_CHARGERS", "reject")
    settings = load_settings(SAMPLE)
    assert settings.http.port == 9123
    assert settings.http.host == "0.0.0.0"  # from the file, untouched
    assert settings.ocpp.unknown_chargers == "reject"


def test_defaults_without_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COOPGRID_DATABASE__URL", "sqlite+aiosqlite:///x.db")
    settings = load_settings()
    assert settings.mqtt.url is None  # embedded broker
    assert settings.database.url == "sqlite+aiosqlite:///x.db"


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"COOPGRID_HTTP__PORT": "eighty"}, "http.port"),
        ({"COOPGRID_OCPP__UNKNOWN_CHARGERS": "maybe"}, "ocpp.unknown_chargers"),
        ({"COOPGRID_MQTT__URL": "http://x"}, "mqtt.url"),
        ({"COOPGRID_BILLING__RUNNING_COST_INTERVAL_S": "-1"}, "billing.running_cost_interval_s"),
    ],
)
def test_invalid_environment_names_the_field(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], field: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_settings()


def test_invalid_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[sites]]\nid = "s"\ngrid_limit_a = -3\n[[chargers]]\nid = "c"\nsite_id = "nowhere"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "sites.0.grid_limit_a" in str(info.value)


def test_unknown_site_reference_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[sites]]\nid = "s"\n[[chargers]]\nid = "c"\nsite_id = "nowhere"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"chargers\.0\.site_id"):
        load_settings(path)


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[http]\nprot = 80\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"http\.prot"):
        load_settings(path)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "none.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[http\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)


def test_phase_switching_needs_a_three_phase_charger() -> None:
    sites = [{"id": "s", "grid_limit_a": 16.0}]
    with pytest.raises(ConfigError, match=r"chargers\.0.*phase_switching needs a 3-phase charger"):
        load_settings(sites=sites, chargers=[{"id": "c", "site_id": "s", "phases": 1, "phase_switching": True}])
    settings = load_settings(sites=sites, chargers=[{"id": "c", "site_id": "s", "phase_switching": True}])
    assert settings.chargers[0].phase_switching


def test_the_forecast_needs_both_coordinates() -> None:
    with pytest.raises(ConfigError, match=r"solar.*both latitude and longitude"):
        load_settings(solar={"latitude": 52.1})
    with pytest.raises(ConfigError, match=r"solar\.latitude"):
        load_settings(solar={"latitude": 91.0, "longitude": 5.0})
    assert load_settings(solar={"latitude": 52.1, "longitude": 5.1}).solar.azimuth_deg == 180.0


def test_a_share_group_needs_an_external_broker_and_one_topic_level() -> None:
    with pytest.raises(ConfigError, match=r"mqtt.share_group: shared subscriptions need an external broker"):
        load_settings(mqtt={"share_group": "ingest"})
    with pytest.raises(ConfigError, match=r"mqtt.share_group: String should match pattern"):
        load_settings(mqtt={"url": "mqtt://127.0.0.1:1883", "share_group": "a/+"})  # a topic level
