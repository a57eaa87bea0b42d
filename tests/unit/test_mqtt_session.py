"""The MQTT session persists only where it can be resumed: an external broker and a stable client id."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from gateway.broker import persistent_session
from gateway.settings import load_settings

BROKER = {"url": "mqtt://127.0.0.1:1883"}


@pytest.mark.parametrize(
    ("overrides", "persistent"),
    [
        ({}, False),  # the embedded broker goes with the process
        ({"mqtt": {**BROKER, "client_id": "coopgrid-site-1"}}, True),
        ({"mqtt": BROKER, "instance_id": "node-1"}, True),
        ({"mqtt": {**BROKER, "client_id": "coopgrid-site-1", "persistent_session": False}}, False),
    ],
)
def test_persistent_where_it_can_be_resumed(overrides: dict[str, Any], persistent: bool) -> None:
    assert persistent_session(load_settings(**overrides)) is persistent


def test_a_client_id_new_at_each_start_keeps_no_session_and_says_how(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COOPGRID_INSTANCE_ID", raising=False)
    monkeypatch.delenv("COOPGRID_MQTT__CLIENT_ID", raising=False)
    with caplog.at_level(logging.WARNING):
        assert not persistent_session(load_settings(mqtt=BROKER))
    assert "COOPGRID_MQTT__CLIENT_ID" in caplog.text


def test_an_instance_id_from_the_environment_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COOPGRID_INSTANCE_ID", "node-2")
    assert persistent_session(load_settings(mqtt=BROKER))


def test_the_bus_routes_a_topic_to_every_matching_handler_even_after_a_late_subscription() -> None:
    import aiomqtt

    from gateway.bus import Bus

    async def one(topic: str, payload: bytes) -> None:
        pass

    async def two(topic: str, payload: bytes) -> None:
        pass

    bus = Bus("127.0.0.1", 1)
    bus.subscribe("coopgrid/solar/+/+/telemetry", one)
    bus.subscribe("coopgrid/chargers/#", two)
    topic = aiomqtt.Topic("coopgrid/solar/p/i/telemetry")
    assert [h for _, h in bus._route(topic)] == [one]
    assert [h for _, h in bus._route(topic)] == [one]  # remembered
    bus.subscribe("$share/g/coopgrid/solar/+/+/telemetry", two)  # a shared subscription matches the topic too
    assert [h for _, h in bus._route(topic)] == [one, two]
    assert bus._route(aiomqtt.Topic("coopgrid/sites/a/allocation")) == []
