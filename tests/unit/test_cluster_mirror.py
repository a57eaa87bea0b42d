"""Charge-point events mirrored for the other instances: meter samples coalesced, order per charger kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from chargepoints.events import MeterSample, TransactionStopped
from gateway.cluster import Cluster

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FakeBus:
    def __init__(self) -> None:
        self.published: list[tuple[str, Any, int]] = []

    def subscribe(self, *args: Any, **kwargs: Any) -> None:
        pass

    def publish(self, topic: str, payload: Any, *, qos: int = 0, retain: bool = False) -> None:
        self.published.append((topic, json.loads(json.dumps(payload)), qos))


def mirrored(bus: FakeBus) -> list[tuple[str, str, Any]]:
    return [
        (m["type"], m["event"]["charge_point_id"], m["event"].get("energy_wh", m["event"].get("meter_stop_wh")))
        for _, m, _ in bus.published
    ]


async def test_meter_samples_are_coalesced_and_go_out_before_their_chargers_next_event() -> None:
    bus = FakeBus()
    cluster = Cluster(bus, central=None, prefix="coopgrid", instance_id="a")  # type: ignore[arg-type]
    for energy in (100.0, 200.0, 300.0):
        await cluster.mirror(MeterSample("CP-1", 1, 7, T0, energy_wh=energy, power_w=7000.0))
        await cluster.mirror(MeterSample("CP-2", 1, 8, T0, energy_wh=energy + 1, power_w=7000.0))
    assert bus.published == []  # a flood of samples costs the bus nothing yet
    await cluster.mirror(TransactionStopped("CP-1", 7, 350.0, "Local", T0))
    assert mirrored(bus) == [("MeterSample", "CP-1", 300.0), ("TransactionStopped", "CP-1", 350.0)]
    cluster.flush_meters()
    assert mirrored(bus)[2:] == [("MeterSample", "CP-2", 301.0)]  # the newest, once
    cluster.flush_meters()
    assert len(bus.published) == 3
    assert all(topic == "coopgrid/events/chargepoints" and qos == 1 for topic, _, qos in bus.published)
