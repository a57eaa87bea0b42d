"""The event hub hands each event to the subscribers of its type, in the order they subscribed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gateway.events import EventHub


@dataclass
class Base:
    n: int


@dataclass
class Sample(Base):
    pass


@dataclass
class Other:
    n: int


def test_events_reach_the_subscribers_of_their_type_in_order():
    hub, heard = EventHub(), []

    def recorder(name):
        async def hear(event):
            heard.append((name, type(event).__name__, event.n))

        return hear

    def plain(event):  # a plain function is called, not awaited
        heard.append(("samples", type(event).__name__, event.n))

    hub.subscribe(recorder("all"))
    hub.subscribe(plain, (Sample,))
    hub.subscribe(recorder("base"), (Base,))  # subclasses count
    hub.subscribe(recorder("other"), (Other,))

    async def go():
        await hub.publish(Sample(1))
        await hub.publish(Other(2))
        await hub.publish(Base(3))
        hub.subscribe(recorder("late"), (Sample,))  # a later subscriber is routed too
        await hub.publish(Sample(4))

    asyncio.run(go())
    assert heard == [
        ("all", "Sample", 1), ("samples", "Sample", 1), ("base", "Sample", 1),
        ("all", "Other", 2), ("other", "Other", 2),
        ("all", "Base", 3), ("base", "Base", 3),
        ("all", "Sample", 4), ("samples", "Sample", 4), ("base", "Sample", 4), ("late", "Sample", 4),
    ]  # fmt: skip


def test_a_failing_subscriber_does_not_stop_the_others(caplog):
    hub, heard = EventHub(), []

    async def fails(event):
        raise RuntimeError("boom")

    def fails_too(event):
        raise ValueError("bang")

    async def hears(event):
        heard.append(event)

    hub.subscribe(fails)
    hub.subscribe(fails_too)
    hub.subscribe(hears)
    asyncio.run(hub.publish(Other(1)))
    assert heard == [Other(1)]
    assert "boom" in caplog.text
    assert "bang" in caplog.text


def test_an_attached_listener_hears_the_types_it_names():
    class OnlySamples:
        event_types: tuple[type, ...] | None = (Sample,)

        def __init__(self):
            self.heard = []

        def on_event(self, event):
            self.heard.append(event)

    class Everything(OnlySamples):
        event_types = None

    hub, only, every = EventHub(), OnlySamples(), Everything()
    hub.attach(only)
    hub.attach(every)
    asyncio.run(hub.publish(Other(1)))
    asyncio.run(hub.publish(Sample(2)))
    assert only.heard == [Sample(2)]
    assert every.heard == [Other(1), Sample(2)]
