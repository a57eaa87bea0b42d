"""Grid connection meters over MQTT: each layout with its device's real payloads, hypothesis on each parser,
and the ingest's checks, rejections and timeouts (pure: no broker, time advanced by hand)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from solar.adapters import PayloadError
from solar.events import GridMeterReading, GridMeterStateChanged, TelemetryRejected
from solar.meters import METER_LAYOUTS, GridMeters, MeterPartial, MeterSpec, victron_keepalive_topic

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
currents = st.floats(min_value=-500, max_value=500, allow_nan=False)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Events:
    def __init__(self) -> None:
        self.items: list[object] = []

    async def __call__(self, event: object) -> None:
        self.items.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.items if isinstance(e, kind)]


def parse(layout: str, topic_part: str, payload: bytes) -> MeterPartial:
    return METER_LAYOUTS[layout].parse(topic_part, payload)


# -- each layout with its device's payloads -------------------------------------------------------------


def test_native_layout() -> None:
    payload = b'{"ts": 1780000000, "current_a": [10.5, 3, 0.25], "power_w": 3100, "energy_wh": 5}'
    partial = parse("native", "json", payload)
    assert partial == MeterPartial((10.5, 3.0, 0.25), 3100.0, 5.0)
    assert parse("native", "json", b'{"current_a": [7]}').current_a == (7.0, None, None)
    with pytest.raises(PayloadError, match="invalid_current_a"):
        parse("native", "json", b'{"current_a": []}')
    with pytest.raises(PayloadError, match="invalid_current_a"):
        parse("native", "json", b'{"power_w": 10}')
    with pytest.raises(PayloadError, match="invalid_energy_wh"):
        parse("native", "json", b'{"current_a": [1, 2, 3], "energy_wh": -1}')


def test_shelly_pro_3em_layout() -> None:
    em = {
        "id": 0,
        "a_current": 4.029,
        "a_voltage": 236.1,
        "a_act_power": 951.2,
        "b_current": 4.027,
        "b_voltage": 236.2,
        "b_act_power": -951.1,
        "c_current": 3.03,
        "c_voltage": 236.3,
        "c_act_power": 715.4,
        "n_current": None,
        "total_current": 11.086,
        "total_act_power": 715.5,
        "total_aprt_power": 2617.8,
    }
    layout = METER_LAYOUTS["shelly_pro3em"]
    assert layout.topics("shellypro3em-c8f09e8") == {
        "shellypro3em-c8f09e8/status/em:0": "em",
        "shellypro3em-c8f09e8/status/emdata:0": "emdata",
        "shellypro3em-c8f09e8/online": "online",
    }
    assert layout.parse("em", json.dumps(em).encode()) == MeterPartial((4.029, 4.027, 3.03), 715.5)
    assert layout.parse("emdata", b'{"id": 0, "total_act": 2853.63, "total_act_ret": 0.0}').energy_wh == 2853.63
    assert layout.parse("online", b"false").online is False
    assert layout.parse("online", b"true").online is True
    with pytest.raises(PayloadError, match="invalid_a_current"):
        layout.parse("em", b'{"a_current": "4.0"}')


def test_tasmota_sml_layout() -> None:
    layout = METER_LAYOUTS["tasmota_sml"]
    sensor = {
        "Time": "2026-06-01T12:00:00",
        "SML": {"Total_in": 12345.678, "Total_out": 12.1, "Power_curr": 5320}
        | {"Curr_p1": 9.1, "Curr_p2": 8.2, "Curr_p3": 6.0},
    }
    assert layout.parse("sensor", json.dumps(sensor).encode()) == MeterPartial((9.1, 8.2, 6.0), 5320.0, 12345678.0)
    # another script's names, another meter name
    other = {"Time": "x", "MT681": {"Power": 100, "I_L1": 0.5, "I_L2": 0.4, "I_L3": 0.3}}
    assert layout.parse("sensor", json.dumps(other).encode()).current_a == (0.5, 0.4, 0.3)
    assert layout.parse("lwt", b"Offline").online is False
    with pytest.raises(PayloadError, match="no_sml_meter"):
        layout.parse("sensor", b'{"Time": "x", "ENERGY": {"Voltage": 230}}')


def test_victron_grid_layout() -> None:
    layout = METER_LAYOUTS["victron"]
    base = "N/c0619ab12345/grid/30"
    assert set(layout.topics(base)) == {
        f"{base}/Ac/L1/Current",
        f"{base}/Ac/L2/Current",
        f"{base}/Ac/L3/Current",
        f"{base}/Ac/Power",
        f"{base}/Ac/Energy/Forward",
    }
    assert layout.parse("current2", b'{"value": 12.3}').current_a == (None, 12.3, None)
    assert layout.parse("energy", b'{"value": 1.5}').energy_wh == 1500.0
    assert layout.parse("power", b'{"value": null}').empty
    assert layout.parse("current1", b"").online is False


# -- hypothesis: every parser takes any bytes without raising anything but PayloadError ------------------


@pytest.mark.parametrize("layout", sorted(METER_LAYOUTS))
@given(payload=st.binary(max_size=300))
def test_parsers_never_raise_anything_but_payload_errors(layout: str, payload: bytes) -> None:
    for part in set(METER_LAYOUTS[layout].topics("base").values()):
        reason = ""
        try:
            partial = METER_LAYOUTS[layout].parse(part, payload)
        except PayloadError as exc:
            reason = exc.reason
        else:
            assert isinstance(partial, MeterPartial)
            continue
        assert reason


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


@pytest.mark.parametrize("layout", sorted(METER_LAYOUTS))
@given(data=json_values)
def test_parsers_on_any_json(layout: str, data: object) -> None:
    for part in set(METER_LAYOUTS[layout].topics("base").values()):
        try:
            METER_LAYOUTS[layout].parse(part, json.dumps(data).encode())
        except PayloadError:
            pass


@given(l1=currents, l2=currents, l3=currents, power=st.floats(-1e5, 1e5))
def test_native_round_trip(l1: float, l2: float, l3: float, power: float) -> None:
    payload = json.dumps({"current_a": [l1, l2, l3], "power_w": power}).encode()
    assert parse("native", "json", payload) == MeterPartial((l1, l2, l3), power)


@given(a=currents, b=currents, c=currents, total=st.floats(-1e5, 1e5))
def test_shelly_round_trip(a: float, b: float, c: float, total: float) -> None:
    payload = json.dumps({"a_current": a, "b_current": b, "c_current": c, "total_act_power": total}).encode()
    assert parse("shelly_pro3em", "em", payload) == MeterPartial((a, b, c), total)


@given(
    name=st.text(min_size=1, max_size=10).filter(lambda n: n != "Time"),
    a=currents,
    b=currents,
    c=currents,
    total_kwh=st.floats(0, 1e7),
)
def test_tasmota_sml_round_trip(name: str, a: float, b: float, c: float, total_kwh: float) -> None:
    payload = json.dumps({"Time": "t", name: {"Curr_p1": a, "Curr_p2": b, "Curr_p3": c, "Total_in": total_kwh}})
    partial = parse("tasmota_sml", "sensor", payload.encode())
    assert partial.current_a == (a, b, c)
    assert partial.energy_wh == pytest.approx(total_kwh * 1000)


@given(phase=st.integers(1, 3), value=currents)
def test_victron_round_trip(phase: int, value: float) -> None:
    partial = parse("victron", f"current{phase}", json.dumps({"value": value}).encode())
    assert partial.current_a[phase - 1] == value
    assert sum(c is not None for c in partial.current_a) == 1


# -- the ingest -----------------------------------------------------------------------------------------


def meters(**specs: MeterSpec) -> tuple[GridMeters, Events, Clock]:
    events, clock = Events(), Clock()
    return GridMeters(specs, events, clock), events, clock


async def test_a_reading_goes_out_and_the_meter_comes_online() -> None:
    ingest, events, _ = meters(s=MeterSpec("s", "native"))
    assert ingest.topic_filters == ["coopgrid/grid/s/meter"]
    await ingest.handle("coopgrid/grid/s/meter", b'{"current_a": [10, 20, 30], "power_w": 13800}')
    assert events.of(GridMeterStateChanged) == [GridMeterStateChanged("s", "online", False, T0)]
    assert events.of(GridMeterReading) == [GridMeterReading("s", (10.0, 20.0, 30.0), 13800.0, None, T0)]
    view = ingest.view("s")
    assert view is not None
    assert view["state"] == "online"
    assert not view["fallback"]


async def test_victron_phases_are_combined_once_each_has_been_heard() -> None:
    base = "N/portal/grid/30"
    ingest, events, _ = meters(s=MeterSpec("s", "victron", topic=base))
    await ingest.handle(f"{base}/Ac/L1/Current", b'{"value": 5}')
    await ingest.handle(f"{base}/Ac/L2/Current", b'{"value": 6}')
    assert events.of(GridMeterReading) == []
    await ingest.handle(f"{base}/Ac/L3/Current", b'{"value": 7}')
    await ingest.handle(f"{base}/Ac/L1/Current", b'{"value": 9}')
    assert [e.current_a for e in events.of(GridMeterReading)] == [(5.0, 6.0, 7.0), (9.0, 6.0, 7.0)]
    await ingest.handle(f"{base}/Ac/L1/Current", b"")  # device gone
    assert events.of(GridMeterStateChanged)[-1].state == "offline"
    assert events.of(GridMeterStateChanged)[-1].fallback


async def test_bad_readings_are_counted_by_reason_and_kept_aside() -> None:
    ingest, events, _ = meters(s=MeterSpec("s", "native", max_current_a=100.0))
    await ingest.handle("coopgrid/grid/s/meter", b'{"current_a": [10, 200, 30]}')
    await ingest.handle("coopgrid/grid/s/meter", b"not json")
    await ingest.handle("coopgrid/grid/other/meter", b"{}")
    assert ingest.rejects == {"current_out_of_range": 1, "not_json": 1, "unknown_topic": 1}
    assert ingest.rejects_by_site == {"s": {"current_out_of_range": 1, "not_json": 1}, None: {"unknown_topic": 1}}
    assert [r["reason"] for r in ingest.rejected_view()] == ["unknown_topic", "not_json", "current_out_of_range"]
    assert ingest.rejected_view()[2]["payload"] == '{"current_a": [10, 200, 30]}'
    view = ingest.view("s")
    assert view is not None
    assert [r["reason"] for r in view["recent_rejects"]] == ["not_json", "current_out_of_range"]
    assert len(events.of(TelemetryRejected)) == 3
    assert events.of(GridMeterReading) == []
    assert ingest.state("s") == "unknown"


async def test_a_silent_meter_falls_back_after_its_timeout_and_comes_back() -> None:
    ingest, events, clock = meters(s=MeterSpec("s", "native", timeout_s=3.0))
    await ingest.handle("coopgrid/grid/s/meter", b'{"current_a": [1, 2, 3]}')
    clock.now += timedelta(seconds=3)
    await ingest.check_timeouts()
    assert ingest.state("s") == "online"  # exactly at the timeout: still fine
    clock.now += timedelta(seconds=0.5)
    await ingest.check_timeouts()
    assert ingest.state("s") == "silent"
    assert events.of(GridMeterStateChanged)[-1] == GridMeterStateChanged("s", "silent", True, clock.now)
    view = ingest.view("s")
    assert view is not None
    assert view["fallback"]
    assert view["current_a"] == [None, None, None]
    await ingest.handle("coopgrid/grid/s/meter", b'{"current_a": [1, 2, 3]}')
    assert ingest.state("s") == "online"


async def test_polled_readings_take_the_same_checks() -> None:
    ingest, events, _ = meters(s=MeterSpec("s", "sunspec", max_current_a=50.0))
    assert ingest.topic_filters == []
    await ingest.accept("s", MeterPartial((1.0, 2.0, 3.0), 1380.0, 10.0))
    await ingest.accept("s", MeterPartial((1.0, 2.0, 99.0)))
    await ingest.accept("nowhere", MeterPartial((1.0, 2.0, 3.0)))
    await ingest.refuse("s", "model_mismatch", "model 1 where 203 was expected")
    assert len(events.of(GridMeterReading)) == 1
    assert ingest.rejects == {"current_out_of_range": 1, "unknown_site": 1, "model_mismatch": 1}


async def test_single_phase_meter_counts_the_other_phases_zero() -> None:
    ingest, events, _ = meters(s=MeterSpec("s", "native", phases=1))
    await ingest.handle("coopgrid/grid/s/meter", b'{"current_a": [12]}')
    assert events.of(GridMeterReading)[0].current_a == (12.0, 0.0, 0.0)


def test_victron_keepalive_topics() -> None:
    assert victron_keepalive_topic("N/c0619ab12345/grid/30") == "R/c0619ab12345/keepalive"
    assert victron_keepalive_topic("N/+/grid/30") is None
    assert victron_keepalive_topic("tele/x") is None
    ingest, _, _ = meters(
        a=MeterSpec("a", "victron", topic="N/p1/grid/30"),
        b=MeterSpec("b", "victron", topic="N/p1/grid/31"),
        c=MeterSpec("c", "shelly_pro3em", topic="shelly"),
    )
    assert ingest.keepalive_topics() == ["R/p1/keepalive"]


def test_two_sites_on_one_topic_are_refused() -> None:
    with pytest.raises(ValueError, match="another site"):
        meters(a=MeterSpec("a", "native", topic="x"), b=MeterSpec("b", "native", topic="x"))
