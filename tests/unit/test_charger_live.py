"""The charger page's present: the latest meter per connector (a replayed backlog does not overwrite it) and
the last limit sent, stamped by the platform's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chargepoints.events import MeterSample
from gateway.charger_live import ChargerLive

T0 = datetime(1990, 6, 14, 12, tzinfo=UTC)


async def test_the_newest_meter_wins_and_a_replayed_backlog_does_not() -> None:
    live = ChargerLive(lambda: T0)
    live.on_event(MeterSample("CP-1", 1, 7, T0, energy_wh=1000.0, power_w=7000.0, current_a=10.0))
    live.on_event(MeterSample("CP-1", 1, 7, T0 - timedelta(minutes=5), energy_wh=500.0, power_w=3000.0))
    live.on_event(MeterSample("CP-1", 1, 7, T0 + timedelta(seconds=30), power_w=6900.0))  # power alone
    now = live.connector("CP-1", 1)
    assert now is not None
    assert (now.power_w, now.current_a, now.energy_wh) == (6900.0, 10.0, 1000.0)
    assert now.metered == T0 + timedelta(seconds=30)
    assert live.connector("CP-1", 2) is None
    live.on_event(object())  # other events pass by


def test_a_limit_records_its_profile_kind_answer_and_time() -> None:
    clock = [T0]
    live = ChargerLive(lambda: clock[0])
    live.limit_sent("CP-1", 1, 8.0, 42, "Accepted")
    now = live.connector("CP-1", 1)
    assert now is not None
    assert (now.limit_a, now.profile, now.profile_status, now.profile_sent) == (8.0, "TxProfile", "Accepted", T0)
    clock[0] = T0 + timedelta(minutes=1)
    live.limit_sent("CP-1", 1, 6.0, None, "Rejected")
    assert (now.limit_a, now.profile, now.profile_status, now.profile_sent) == (
        6.0,
        "TxDefaultProfile",
        "Rejected",
        T0 + timedelta(minutes=1),
    )
