"""Charge point identities at the door (issue 23): OCPP's rules checked before any state, row or log line.

A charger id is at most 48 characters of OCPP's identifierString set (letters, digits and `* - _ = + | @ .`).
Anything else is refused with HTTP 400 before the WebSocket upgrade; valid ids with `+` or `*` are served
like any other, their MQTT topics escaped (a `+` in a topic used to end the bus, and the process).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import aiomqtt
import pytest
from yarl import URL

from gateway.platform import Platform
from gateway.topics import level, parse_level, publishable
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.platform import make_settings, running_platform

# (what goes in the URL, already percent-encoded as a client would send it)
INVALID = [
    "a%23b",  # '#': an MQTT wildcard
    "a%2Fb",  # '/'
    "a%0Ainjected%20log%20line",  # a newline forging a log line
    "a%00b",  # NUL
    "a%20b",  # a space
    "a%3Ab",  # ':' is the Basic-auth separator
    "x" * 49,  # longer than OCPP's 48
    "%C3%A9",  # not ASCII
    "a%25b",  # '%'
    "a$b",
]
VALID = ["CP+1", "CP*2", "a-b_c=d|e@f.g", "x" * 48, "+", "*"]


@pytest.fixture
async def platform(tmp_path: Path, mosquitto_broker: Mosquitto) -> AsyncIterator[Platform]:
    settings = make_settings(
        tmp_path,
        mqtt={"url": f"mqtt://{mosquitto_broker.host}:{mosquitto_broker.port}"},
        ocpp={"unknown_chargers": "accept"},
    )
    async with running_platform(settings) as running:
        yield running


async def _call(ws: aiohttp.ClientWebSocketResponse, unique_id: str, action: str, payload: dict[str, object]) -> list:
    """Send a Call; the answer to it (calls the central system makes meanwhile are skipped)."""
    await ws.send_str(json.dumps([2, unique_id, action, payload]))
    while True:
        frame = json.loads(await ws.receive_str(timeout=5))
        if frame[0] != 2 and frame[1] == unique_id:
            return frame


async def _boot(ws: aiohttp.ClientWebSocketResponse, unique_id: str = "b") -> dict[str, object]:
    frame = await _call(ws, unique_id, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    assert frame[0] == 3, frame
    return frame[2]


async def test_invalid_identities_are_refused_before_anything_exists(
    platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{platform.ocpp_url}/CP-A") as neighbour:
        assert (await _boot(neighbour))["status"] == "Accepted"
        for raw in INVALID:
            url = URL(f"{platform.ocpp_url}/{raw}", encoded=True)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(url, protocols=("ocpp1.6",))
            assert 400 <= refused.value.status < 500, raw
        assert (await _call(neighbour, "hb", "Heartbeat", {}))[0] == 3  # the neighbour is still served
        async with http.get(f"{platform.http_url}/api/chargepoints") as response:
            listed = {view["id"] for view in await response.json()}
    assert listed == {"CP-A", "CP-B"}
    stored = {record.id for record in await platform.store.load_chargers()}
    assert stored <= {"CP-A", "CP-B"}
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "injected log line" not in logged
    assert "\0" not in logged
    assert "x" * 49 not in logged


async def test_ids_with_plus_and_star_are_served_and_their_topics_escaped(
    platform: Platform, mosquitto_broker: Mosquitto
) -> None:
    async with aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port) as watcher:
        await watcher.subscribe("coopgrid/chargers/+/status", qos=1)
        async with aiohttp.ClientSession() as http:
            for charge_point_id in VALID:
                url = URL(f"{platform.ocpp_url}/{level(charge_point_id)}", encoded=True)
                async with http.ws_connect(url, protocols=("ocpp1.6",)) as ws:
                    assert (await _boot(ws))["status"] == "Accepted"
                    status = {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
                    assert (await _call(ws, "s", "StatusNotification", status))[0] == 3
            seen: dict[str, dict[str, object]] = {}
            async with asyncio.timeout(15):
                async for message in watcher.messages:
                    assert isinstance(message.payload, bytes)
                    status = json.loads(message.payload)
                    seen[parse_level(message.topic.value.split("/")[2])] = status
                    if set(VALID) <= set(seen):
                        break
            for charge_point_id in VALID:
                assert seen[charge_point_id]["charge_point_id"] == charge_point_id
            async with http.get(f"{platform.http_url}/api/chargepoints/{level('CP+1')}") as response:
                assert response.status == 200
                assert (await response.json())["id"] == "CP+1"
    assert platform.bus.failed == 0
    assert platform.bus.connected.is_set()


def test_levels_never_hold_what_a_topic_level_may_not() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    @given(st.text())
    def check(value: str) -> None:
        escaped = level(value)
        assert "/" not in escaped
        assert publishable(f"coopgrid/chargers/{escaped}/status") or value == ""
        assert not escaped.startswith("$")
        assert parse_level(escaped) == value

    check()
