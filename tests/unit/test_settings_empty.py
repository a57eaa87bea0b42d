"""An empty value clears a setting: `COOPGRID_MQTT__URL=` turns the configured broker off."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.settings import ConfigError, load_settings

SAMPLE = Path(__file__).parents[2] / "deploy" / "coopgrid.toml"


def test_an_empty_broker_url_turns_the_configured_broker_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(SAMPLE).mqtt.url == "mqtt://127.0.0.1:1883"
    monkeypatch.setenv("COOPGRID_MQTT__URL", "")
    settings = load_settings(SAMPLE)
    assert settings.mqtt.url is None  # the embedded broker
    assert settings.mqtt.prefix == "coopgrid"  # the rest of the section stays as the file has it


def test_empty_values_clear_to_none_or_to_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COOPGRID_OPERATOR_TOKEN", "")
    monkeypatch.setenv("COOPGRID_INFLUX__URL", "")
    monkeypatch.setenv("COOPGRID_HTTP__PORT", "")
    monkeypatch.setenv("COOPGRID_OCPP__UNMANAGED_LIMIT_A", "")
    monkeypatch.setenv("COOPGRID_INFLUX__TOKEN", "")
    settings = load_settings(SAMPLE, http={"host": "0.0.0.0", "port": 9000})
    assert settings.operator_token is None
    assert settings.influx.url is None
    assert settings.http.port == 8080  # not text and never none: back to the default
    assert settings.ocpp.unmanaged_limit_a is None  # may be none: none (uncontrolled), as documented
    assert settings.influx.token == ""  # text keeps the empty text


def test_an_empty_value_in_the_file_clears_too(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[mqtt]\nurl = ""\n[http]\nport = ""\n', encoding="utf-8")
    settings = load_settings(path)
    assert settings.mqtt.url is None
    assert settings.http.port == 8080


def test_clearing_half_of_a_pair_is_still_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COOPGRID_SOLAR__LATITUDE", "")
    with pytest.raises(ConfigError, match=r"solar: give both latitude and longitude"):
        load_settings(SAMPLE)


@given(st.sampled_from(["mqtt.url", "mqtt.client_id", "mqtt.share_group", "influx.url", "ocpp.safe_limit_a"]))
def test_every_optional_setting_clears_to_none(where: str) -> None:
    section, name = where.split(".")
    settings = load_settings(None, **{section: {name: ""}})
    assert getattr(getattr(settings, section), name) is None


@given(st.text(min_size=1).filter(lambda s: s.strip() and not s.startswith(("mqtt://", "mqtts://", "tcp://"))))
def test_a_non_empty_bad_broker_url_is_still_refused(url: str) -> None:
    with pytest.raises(ConfigError, match=r"mqtt\.url"):
        load_settings(None, mqtt={"url": url})
