"""Refused telemetry through a real Mosquitto: counted per reason, kept aside as received, served over REST."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import aiomqtt
import pytest

from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.platform import make_settings, running_platform

pytestmark = pytest.mark.integration

BAD = [
    ("coopgrid/solar/park-1/inv-1/telemetry", b"\xff\xfe not utf-8", "not_utf8", "\\xff\\xfe not utf-8"),
    ("coopgrid/solar/park-1/inv-1/telemetry", b"{not json", "not_json", "{not json"),
    (
        "coopgrid/solar/park-1/inv-1/telemetry",
        b'{"ts": 1, "ac_power_w": 99999, "energy_wh": 5}',
        "power_above_rating",
        None,
    ),
    ("coopgrid/solar/park-1/nobody/telemetry", b'{"ts": 1, "ac_power_w": 1, "energy_wh": 5}', "unknown_inverter", None),
]


async def test_rejects_are_served_with_their_raw_payload_and_counted_in_metrics(
    tmp_path: Path, mosquitto_broker: Mosquitto
) -> None:
    host, port = mosquitto_broker.host, mosquitto_broker.port
    settings = make_settings(
        tmp_path,
        mqtt={"url": f"mqtt://{host}:{port}", "client_id": "coopgrid-rejects-test"},
        cooperatives=[{"id": "coop", "members": [{"id": "m1"}]}],
        parks=[{"id": "park-1", "member_id": "m1", "inverters": [{"id": "inv-1", "rated_power_w": 5000.0}]}],
    )
    good = {"ts": datetime.now(UTC).isoformat(), "ac_power_w": 1200.0, "energy_wh": 10.0}
    async with running_platform(settings) as platform:
        await asyncio.wait_for(platform.bus.connected.wait(), 10)
        async with aiomqtt.Client(host, port, identifier="rejects-test-publisher") as client:
            for topic, payload, _, _ in BAD:
                await client.publish(topic, payload, qos=1)
            await client.publish("coopgrid/solar/park-1/inv-1/telemetry", json.dumps(good), qos=1)
        for _ in range(100):  # the bad ones did not stop the ingest: the good one after them arrives
            if platform.solar.accepted:
                break
            await asyncio.sleep(0.05)
        assert platform.solar.park_power_w("park-1") == 1200.0
        async with aiohttp.ClientSession() as http:
            async with http.get(platform.http_url + "/api/solar/rejects") as response:
                assert response.status == 200
                body = await response.json()
            await asyncio.sleep(1.2)  # the metrics are refreshed every second
            async with http.get(platform.http_url + "/metrics") as response:
                metrics = await response.text()
    assert body["counts"] == {reason: 1 for _, _, reason, _ in BAD}
    recent = list(reversed(body["recent"]))  # newest first
    assert [(r["topic"], r["reason"]) for r in recent] == [(topic, reason) for topic, _, reason, _ in BAD]
    for r, (_, payload, _, shown) in zip(recent, BAD, strict=True):
        assert r["payload"] == (shown if shown is not None else payload.decode())
        datetime.fromisoformat(r["received"])
    for _, _, reason, _ in BAD:
        assert f'coopgrid_solar_rejects{{reason="{reason}"}} 1.0' in metrics
