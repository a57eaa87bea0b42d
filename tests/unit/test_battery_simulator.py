"""The simulated battery's model: state of charge integrated from the power it follows, within its power
limits, its state-of-charge bounds and its efficiency; setpoints that lapse; setpoint messages (pure)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.battery import VICTRON_HOLD_S, BatteryModel, SimulatedBattery
from simulators.clock import SimClock


def model(**overrides: float) -> BatteryModel:
    values = {"capacity_wh": 10_000.0, "max_charge_w": 5000.0, "max_discharge_w": 4000.0, "soc": 0.5,
              "soc_min": 0.1, "round_trip_efficiency": 0.81}  # fmt: skip
    values.update(overrides)
    return BatteryModel(**values)


def test_charging_stores_the_efficiency_share_and_stops_when_full() -> None:
    m = model()
    m.follow(5000.0, 0.0, 3600.0)
    assert m.step(600.0, 600.0) == pytest.approx(5000.0)
    assert m.soc == pytest.approx(0.5 + 5000 / 6 * 0.9 / 10_000)  # sqrt(0.81) on the way in
    m.follow(9000.0, 600.0, 3600.0)  # beyond its power: its limit
    for k in range(2, 30):
        m.step(600.0 * k, 600.0)
    assert m.soc == pytest.approx(1.0)
    assert m.power_w == pytest.approx(0.0)  # full: it takes nothing more


def test_discharging_stops_at_soc_min_and_a_lapsed_setpoint_idles() -> None:
    m = model(soc=0.2)
    m.follow(-8000.0, 0.0, 1200.0)
    assert m.step(600.0, 600.0) == pytest.approx(-4000.0)
    assert m.step(1200.0, 600.0) > -4000.0  # what is left above soc_min, then nothing
    assert m.soc == pytest.approx(0.1)
    assert m.step(1800.0, 600.0) == 0.0  # lapsed
    assert m.discharged_wh == pytest.approx(900.0)  # the 1000 Wh above soc_min, after the efficiency out


@given(
    steps=st.lists(st.tuples(st.floats(-10_000, 10_000), st.floats(1.0, 900.0)), max_size=40),
    soc=st.floats(0.1, 1.0),
)
def test_the_model_never_leaves_its_bounds_and_loses_what_its_efficiency_says(
    steps: list[tuple[float, float]], soc: float
) -> None:
    m = model(soc=soc)
    start_wh, now = m.soc * m.capacity_wh, 0.0
    for power, dt in steps:
        m.follow(power, now, 3600.0)
        now += dt
        ran = m.step(now, dt)
        assert -m.max_discharge_w - 1e-6 <= ran <= m.max_charge_w + 1e-6
        assert m.soc_min - 1e-9 <= m.soc <= m.soc_max + 1e-9
    stored_wh = m.soc * m.capacity_wh - start_wh
    assert stored_wh == pytest.approx(m.charged_wh * 0.9 - m.discharged_wh / 0.9, abs=1e-3)


def test_setpoints_of_both_layouts_and_refused_ones() -> None:
    clock = SimClock(datetime(2026, 6, 1, tzinfo=UTC), speed=1.0)
    sim = SimulatedBattery("127.0.0.1", 1, model(), clock, battery_id="b", site_id="s", layout="both")
    assert sim.take_setpoint("coopgrid/batteries/s/b/setpoint", json.dumps({"power_w": 1500, "valid_s": 30}).encode())
    assert sim.model.setpoint_w == 1500.0
    assert sim.model.setpoint_until_s == pytest.approx(30.0, abs=1.0)
    for phase in (1, 2, 3):
        assert sim.take_setpoint(sim.victron_setpoint_topic(phase), b'{"value": -1000}')
    assert sim.model.setpoint_w == -3000.0
    assert sim.model.setpoint_until_s == pytest.approx(VICTRON_HOLD_S, abs=1.0)
    assert not sim.take_setpoint("coopgrid/batteries/s/b/setpoint", b'{"power_w": "NaN"}')
    assert not sim.take_setpoint("coopgrid/batteries/s/b/setpoint", b"\xff")
    assert sim.refused == 2
    topics = [topic for topic, _ in sim.messages()]
    assert topics == ["coopgrid/batteries/s/b/telemetry", *(f"N/c0ffee000001/battery/512/{p}" for p in
                                                            ("Soc", "Dc/0/Power", "Dc/0/Voltage"))]  # fmt: skip
    native = json.loads(sim.messages()[0][1])
    assert native["soc_pct"] == 50.0
    assert math.isfinite(native["voltage_v"])
