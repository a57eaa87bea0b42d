"""The MQTT bus against a real Mosquitto: contract topics, and reconnection when the broker goes away."""

from __future__ import annotations

import asyncio
import contextlib

import aiomqtt
import pytest

from gateway.bus import Bus
from tests.fixtures.mosquitto import Mosquitto


async def wait_for(condition, within_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_bus_survives_a_broker_restart(mosquitto_broker: Mosquitto) -> None:
    received: list[tuple[str, bytes]] = []

    async def handler(topic: str, payload: bytes) -> None:
        received.append((topic, payload))

    bus = Bus(mosquitto_broker.host, mosquitto_broker.port, client_id="bus-test", max_backoff_s=0.5)
    bus.subscribe("coopgrid/solar/+/+/telemetry", handler)
    task = asyncio.create_task(bus.run())
    try:
        await wait_for(bus.connected.is_set)
        async with aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port) as client:
            await client.publish("coopgrid/solar/p/i/telemetry", b"one", qos=1)
        await wait_for(lambda: len(received) == 1)

        mosquitto_broker.stop()
        await wait_for(lambda: not bus.connected.is_set())
        bus.publish("coopgrid/sites/s/allocation", {"queued": True}, qos=1, retain=True)  # waits in the queue
        mosquitto_broker.start()
        await wait_for(bus.connected.is_set)
        assert bus.reconnects >= 1

        async with aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port) as client:
            await client.subscribe("coopgrid/sites/+/allocation")
            async with asyncio.timeout(10):
                async for message in client.messages:
                    assert message.payload == b'{"queued":true}'
                    break
            await client.publish("coopgrid/solar/p/i/telemetry", b"two", qos=1)
        await wait_for(lambda: len(received) == 2)
        assert [p for _, p in received] == [b"one", b"two"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_failed_publication_is_counted_and_the_bus_lives_on(
    mosquitto_broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One publication that fails for itself (not for the connection) is dropped and counted; the ones
    around it go out and the bus stays connected (it used to end the send loop, and the process)."""
    real_publish = aiomqtt.Client.publish

    async def failing_publish(self: aiomqtt.Client, topic: str, *args: object, **kwargs: object) -> None:
        if topic == "coopgrid/test/poison":
            raise ValueError("injected failure")
        await real_publish(self, topic, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(aiomqtt.Client, "publish", failing_publish)
    bus = Bus(mosquitto_broker.host, mosquitto_broker.port, client_id="bus-fail-test", max_backoff_s=0.5)
    task = asyncio.create_task(bus.run())
    try:
        await wait_for(bus.connected.is_set)
        async with aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port) as client:
            await client.subscribe("coopgrid/test/#", qos=1)
            bus.publish("coopgrid/test/before", b"1", qos=1)
            bus.publish("coopgrid/test/poison", b"2", qos=1)
            bus.publish("coopgrid/chargers/a#b/status", b"3", qos=1)  # a wildcard: refused at once
            bus.publish("coopgrid/test/after", b"4", qos=1)
            seen = []
            async with asyncio.timeout(10):
                async for message in client.messages:
                    seen.append(message.topic.value)
                    if message.topic.value == "coopgrid/test/after":
                        break
        assert seen == ["coopgrid/test/before", "coopgrid/test/after"]
        assert bus.failed == 2
        assert bus.connected.is_set()
        assert bus.reconnects == 0
        assert not task.done()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
