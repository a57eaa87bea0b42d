"""`[sites.meter]`: what a grid meter's configuration must say, with errors naming the field."""

from __future__ import annotations

import pytest

from gateway.settings import ConfigError, load_settings


def site(meter: dict) -> dict:
    return {"sites": [{"id": "s", "grid_limit_a": 63.0, "meter": meter}]}


def test_a_meter_per_site() -> None:
    settings = load_settings(**site({"layout": "victron", "topic": "N/abc/grid/30", "interval_s": 1, "timeout_s": 4}))
    meter = settings.sites[0].meter
    assert meter is not None
    assert (meter.layout, meter.topic, meter.timeout_s) == ("victron", "N/abc/grid/30", 4.0)
    assert load_settings(**site({})).sites[0].meter.layout == "native"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("meter", "message"),
    [
        ({"layout": "sunspec"}, "sites.0.meter: layout sunspec is polled over Modbus TCP: give its host"),
        ({"layout": "shelly_pro3em"}, "sites.0.meter: layout shelly_pro3em needs the meter's base topic"),
        ({"interval_s": 5, "timeout_s": 2}, "sites.0.meter: timeout_s must be at least interval_s"),
        ({"layout": "acme"}, "sites.0.meter.layout"),
        ({"layout": "sdm630", "host": "127.0.0.1", "port": 0}, "sites.0.meter.port"),
    ],
)
def test_bad_meter_configuration_names_the_field(meter: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("+", r"\+")):
        load_settings(**site(meter))
