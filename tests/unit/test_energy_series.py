"""InfluxDB's park and cooperative series read the one green accounting (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from gateway.publishing import Outbound
from smartgrid.ledger import GreenAccounting

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Influx:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, points: list[Any]) -> None:
        self.lines += [p.to_line_protocol() for p in points]


class Solar:
    def parks_view(self) -> list[dict[str, Any]]:
        return [{"id": "p1", "member_id": "m1", "power_w": 3000.0, "energy_today_wh": 60.0}]

    def total_power_w(self) -> float:
        return 3000.0


def test_the_series_carry_the_accountings_today() -> None:
    ledger = GreenAccounting(park_member={"p1": "m1"})
    ledger.start(1, "A", T0, 0.0)
    ledger.meter(1, T0 + timedelta(minutes=1), 100.0, 6000.0)
    ledger.generation({("p1", T0): 60.0})
    ledger.close(T0 + timedelta(minutes=5))
    influx = Influx()
    outbound = Outbound(cast(Any, None), cast(Any, None), cast(Any, None), instance_id="i", influx=cast(Any, influx),
                        clock=lambda: T0 + timedelta(minutes=5))  # fmt: skip
    outbound.write_series(cast(Any, Solar()), ledger)
    park = next(line for line in influx.lines if line.startswith("park_power"))
    coop = next(line for line in influx.lines if line.startswith("cooperative"))
    assert "to_evs_today_wh=60" in park
    assert "green_wh_today=60" in coop
    assert "ev_wh_today=100" in coop
    assert "green_share_today=0.6" in coop
    assert "solar_wh_today=60" in coop
