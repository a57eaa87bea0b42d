"""Stationary batteries over MQTT: the native and the Victron layout with their real payloads, hypothesis on
each parser, the ingest's checks, rejections and timeouts, the setpoint messages, the plan's setpoints and
the planner's state of charge (pure: no broker, time advanced by hand)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.planner_settings import PlannerSettings
from gateway.planning_feeds import PlannerFeeds, soc_source
from gateway.settings import BatteryConfig, ConfigError, load_settings
from smartgrid.planner import BatteryPlan, Plan
from smartgrid.planning import battery_setpoints_w, planned_soc
from solar.adapters import PayloadError
from solar.batteries import (
    BatteryPartial,
    BatterySpec,
    BatteryTelemetry,
    NativeBattery,
    VictronBattery,
    battery_layout,
)
from solar.events import BatteryReading, BatteryStateChanged, TelemetryRejected
from tests.unit.test_grid_meters import T0, Clock, Events  # the same test clock and event sink

NATIVE = "coopgrid/batteries/site-a/bat-1"
VICTRON = "N/c0ffee000001/battery/512"


def ingest(layout: str = "native", clock: Clock | None = None, events: Events | None = None) -> BatteryTelemetry:
    spec = BatterySpec(
        "bat-1", "site-a", max_power_w=5000.0, layout=layout, topic=VICTRON if layout == "victron" else None
    )
    return BatteryTelemetry({"bat-1": spec}, events or Events(), clock or Clock())


def body(data: object) -> bytes:
    return json.dumps(data).encode()


# -- the layouts with their devices' payloads --------------------------------------------------------------


def test_native_telemetry_and_state() -> None:
    native = NativeBattery()
    assert native.topics(NATIVE) == {f"{NATIVE}/telemetry": "telemetry", f"{NATIVE}/state": "state"}
    reading = native.parse("telemetry", body({"ts": "2026-06-01T12:00:00Z", "soc_pct": 64.5, "power_w": -2500}))
    assert (reading.soc, reading.power_w, reading.ts) == (0.645, -2500.0, T0)
    assert native.parse("state", b"offline") == BatteryPartial(online=False)
    for bad, reason in (
        (body({"soc_pct": 101, "power_w": 0}), "invalid_soc_pct"),
        (body({"soc_pct": 50}), "invalid_power_w"),
        (body([1, 2]), "not_object"),
        (b"\xff", "not_utf8"),
        (b"{", "not_json"),
    ):
        with pytest.raises(PayloadError) as caught:
            native.parse("telemetry", bad)
        assert caught.value.reason == reason
    with pytest.raises(PayloadError, match="invalid_state"):
        native.parse("state", b"maybe")


def test_victron_dbus_mqtt_values() -> None:
    victron = VictronBattery()
    assert set(victron.topics(VICTRON)) == {f"{VICTRON}/Soc", f"{VICTRON}/Dc/0/Power", f"{VICTRON}/Dc/0/Voltage"}
    assert victron.parse("soc", b'{"value": 87.5}') == BatteryPartial(soc=0.875)
    assert victron.parse("power", b'{"value": -1200.0}') == BatteryPartial(power_w=-1200.0)
    assert victron.parse("voltage", b'{"value": 52.1}') == BatteryPartial(voltage_v=52.1)
    assert victron.parse("soc", b'{"value": null}').empty  # an invalid reading: skipped
    assert victron.parse("soc", b"") == BatteryPartial(online=False)  # the device is gone
    with pytest.raises(PayloadError, match="invalid_soc"):
        victron.parse("soc", b'{"value": 140}')
    with pytest.raises(PayloadError, match="invalid_value"):
        victron.parse("power", b'{"value": "12"}')


def test_setpoint_messages_of_both_layouts() -> None:
    native = NativeBattery().setpoints(NATIVE, 2500.0, T0, 60.0)
    assert native == [(f"{NATIVE}/setpoint", body({"ts": T0.isoformat(), "power_w": 2500.0, "valid_s": 60.0}))]
    victron = VictronBattery(vebus_instance=276, phases=3).setpoints(VICTRON, -3000.0, T0, 60.0)
    assert victron == [
        (f"W/c0ffee000001/vebus/276/Hub4/L{n}/AcPowerSetpoint", b'{"value": -1000.0}') for n in (1, 2, 3)
    ]
    assert VictronBattery(phases=1).setpoints(VICTRON, 900.0, T0, 60.0)[0][1] == b'{"value": 900.0}'
    with pytest.raises(ValueError, match="unknown battery layout"):
        battery_layout("sonnen")


# -- hypothesis: every parser takes any bytes without raising anything but PayloadError -------------------


@given(payload=st.binary(max_size=300), part=st.sampled_from(["telemetry", "state"]))
def test_native_parser_takes_any_bytes(payload: bytes, part: str) -> None:
    try:
        NativeBattery().parse(part, payload)
    except PayloadError:
        pass


@given(payload=st.binary(max_size=300), part=st.sampled_from(["soc", "power", "voltage"]))
def test_victron_parser_takes_any_bytes(payload: bytes, part: str) -> None:
    try:
        VictronBattery().parse(part, payload)
    except PayloadError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)


@given(value=json_values, part=st.sampled_from(["soc", "power", "voltage"]))
def test_victron_parser_takes_any_json_value(value: object, part: str) -> None:
    try:
        reading = VictronBattery().parse(part, json.dumps({"value": value}).encode())
    except (PayloadError, ValueError):
        return
    assert reading.soc is None or 0.0 <= reading.soc <= 1.0


@given(soc=st.floats(0, 100), power=st.floats(-1e6, 1e6), voltage=st.none() | st.floats(0, 1000))
def test_native_parser_reads_what_it_was_given(soc: float, power: float, voltage: float | None) -> None:
    reading = NativeBattery().parse("telemetry", body({"soc_pct": soc, "power_w": power, "voltage_v": voltage}))
    assert reading.soc == pytest.approx(soc / 100.0)
    assert (reading.power_w, reading.voltage_v) == (power, voltage)


# -- the ingest ---------------------------------------------------------------------------------------------


async def test_live_state_of_charge_energy_minutes_and_timeout() -> None:
    clock, events = Clock(), Events()
    batteries = ingest(clock=clock, events=events)
    assert batteries.topic_filters == [f"{NATIVE}/state", f"{NATIVE}/telemetry"]
    assert batteries.soc("bat-1") is None
    for k in range(3):
        clock.now = T0 + timedelta(seconds=30 * k)
        await batteries.handle(
            f"{NATIVE}/telemetry", body({"ts": clock.now.isoformat(), "soc_pct": 50 + k, "power_w": 2400})
        )
    assert batteries.soc("bat-1") == pytest.approx(0.52)
    assert [e.state for e in events.of(BatteryStateChanged)] == ["online"]
    assert events.of(BatteryReading)[-1] == BatteryReading("bat-1", "site-a", 0.52, 2400.0, clock.now)
    minutes = batteries.minutes.drain()
    assert sum(wh for (key, _), wh in minutes.items() if key == "bat-1/charge") == pytest.approx(2400 * 60 / 3600)
    assert sum(wh for (key, _), wh in minutes.items() if key == "bat-1/discharge") == 0.0
    clock.now += timedelta(seconds=31)
    assert batteries.soc("bat-1") is None  # older than its timeout: not live
    await batteries.check_timeouts()
    assert [e.state for e in events.of(BatteryStateChanged)] == ["online", "silent"]
    assert batteries.view("bat-1")["state"] == "silent"  # type: ignore[index]


async def test_bad_readings_are_counted_and_kept_aside() -> None:
    events = Events()
    batteries = ingest(events=events)
    await batteries.handle(f"{NATIVE}/telemetry", b"{not json")
    await batteries.handle(f"{NATIVE}/telemetry", body({"soc_pct": 50, "power_w": 9000}))  # above 120 % of 5 kW
    await batteries.handle("coopgrid/batteries/site-a/bat-9/telemetry", body({"soc_pct": 50, "power_w": 0}))
    assert batteries.rejects == {"not_json": 1, "power_above_rating": 1, "unknown_topic": 1}
    assert batteries.rejects_by_battery["bat-1"] == {"not_json": 1, "power_above_rating": 1}
    assert [r["payload"] for r in batteries.rejected_view()][-1] == "{not json"
    assert len(events.of(TelemetryRejected)) == 3
    assert batteries.soc("bat-1") is None


async def test_victron_values_arrive_apart_and_an_empty_payload_means_gone() -> None:
    clock, events = Clock(), Events()
    batteries = ingest("victron", clock, events)
    await batteries.handle(f"{VICTRON}/Dc/0/Power", b'{"value": -800}')
    assert batteries.soc("bat-1") is None  # no state of charge yet: not live
    await batteries.handle(f"{VICTRON}/Soc", b'{"value": 71}')
    assert batteries.soc("bat-1") == pytest.approx(0.71)
    assert batteries.view("bat-1")["power_w"] == -800.0  # type: ignore[index]
    assert batteries.keepalive_topics() == ["R/c0ffee000001/keepalive"]
    await batteries.handle(f"{VICTRON}/Soc", b"")
    assert batteries.soc("bat-1") is None
    assert [e.state for e in events.of(BatteryStateChanged)] == ["online", "offline"]


def test_setpoints_are_kept_within_the_rating() -> None:
    batteries = ingest()
    ((topic, payload),) = batteries.setpoint_messages("bat-1", 12_000.0, 60.0)
    assert topic == f"{NATIVE}/setpoint"
    assert json.loads(payload)["power_w"] == 5000.0
    assert batteries.setpoint_messages("bat-9", 100.0, 60.0) == []


# -- the plan's setpoints and the planner's state of charge ----------------------------------------------------


def _plan() -> Plan:
    battery = BatteryPlan(charge_wh=(1250.0, 0.0), discharge_wh=(0.0, 500.0), soc=(0.5, 0.6, 0.55))
    return Plan(900.0, "Optimal", {}, {"bat-1": battery}, {}, 0.0)


def test_the_current_slot_gives_the_setpoint_and_the_expected_state_of_charge() -> None:
    plan = _plan()
    assert battery_setpoints_w(plan, 100.0, 100.0) == {"bat-1": pytest.approx(5000.0)}
    assert battery_setpoints_w(plan, 100.0, 1000.0 + 10) == {"bat-1": pytest.approx(-2000.0)}
    assert battery_setpoints_w(plan, 100.0, 100.0 + 1800) == {}  # the plan ran out: nothing
    assert planned_soc(plan, 0.0, 450.0, "bat-1") == pytest.approx(0.55)
    assert planned_soc(plan, 0.0, 450.0, "bat-9") is None


def test_the_planner_counts_on_the_measured_state_of_charge_while_it_is_live() -> None:
    config = BatteryConfig(id="bat-1", site_id="site-a", capacity_kwh=20, power_kw=5, soc_start=0.5)
    measured: dict[str, float | None] = {"bat-1": None}
    estimated: dict[str, float | None] = {"bat-1": None}
    feeds = PlannerFeeds(
        PlannerSettings(),
        clock=lambda: T0,
        scheduler_clock=lambda: 0.0,
        batteries_config=(config,),
        measured_soc=measured.get,
        estimated_soc=estimated.get,
        green_share=lambda battery_id: 0.25,
    )
    assert feeds.batteries()[0].soc == 0.5
    assert feeds.soc_sources == {"bat-1": [(0.5, "configured")]}
    estimated["bat-1"] = 0.61
    assert feeds.batteries()[0].soc == 0.61
    assert soc_source(feeds.soc_sources["bat-1"], 0.61) == "estimated"
    measured["bat-1"] = 0.83
    (battery,) = feeds.batteries()
    assert (battery.soc, battery.green_share) == (0.83, 0.25)
    assert soc_source(feeds.soc_sources["bat-1"], 0.83) == "measured"
    assert soc_source(feeds.soc_sources["bat-1"], 0.5) == "configured"  # a plan behind: from what it was


def test_battery_settings_name_their_field() -> None:
    site = [{"id": "site-a"}]
    with pytest.raises(ConfigError, match=r"batteries\.0\.site_id: unknown site"):
        load_settings(sites=site, batteries=[{"id": "b", "site_id": "nowhere", "capacity_kwh": 1, "power_kw": 1}])
    with pytest.raises(ConfigError, match="N/<portal>/battery/<instance>"):
        load_settings(
            sites=site,
            batteries=[{"id": "b", "site_id": "site-a", "capacity_kwh": 1, "power_kw": 1, "layout": "victron"}],
        )
    loaded = load_settings(
        sites=site,
        batteries=[
            {"id": "b", "site_id": "site-a", "capacity_kwh": 1, "power_kw": 1, "layout": "victron", "topic": VICTRON}
        ],  # fmt: skip
    )
    assert loaded.batteries[0].vebus_instance == 276


async def test_a_state_message_does_not_make_older_samples_out_of_order() -> None:
    clock = Clock()
    batteries = ingest(clock=clock)
    await batteries.handle(f"{NATIVE}/state", b"online")
    earlier = (T0 - timedelta(minutes=30)).isoformat()
    await batteries.handle(f"{NATIVE}/telemetry", body({"ts": earlier, "soc_pct": 40, "power_w": 100}))
    await batteries.handle(f"{NATIVE}/telemetry", body({"ts": earlier, "soc_pct": 41, "power_w": 100}))  # again
    assert batteries.view("bat-1")["accepted"] == 2  # type: ignore[index]
    assert batteries.rejects == {"out_of_order_or_duplicate": 1}


class Bus:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None:
        self.sent.append((topic, payload))


def test_a_planned_discharge_is_cut_to_what_the_sites_evs_draw() -> None:
    from gateway.batteries import BatterySetpoints  # noqa: PLC0415

    config = BatteryConfig(id="bat-1", site_id="site-a", capacity_kwh=20, power_kw=5)
    bus, drawing = Bus(), {"site-a": 1200.0}
    discharge = BatteryPlan(charge_wh=(0.0,), discharge_wh=(1000.0,), soc=(0.5, 0.45))
    current = (Plan(900.0, "Optimal", {}, {"bat-1": discharge}, {}, 0.0), 0.0)
    setpoints = BatterySetpoints(
        bus,  # type: ignore[arg-type]
        ingest(),
        [config],
        plan=lambda: current,
        clock=lambda: 10.0,
        site_ev_power_w=drawing.__getitem__,
    )
    assert setpoints.publish() == {"bat-1": pytest.approx(-1200.0)}  # planned -4000 W, the EVs take 1200 W
    assert json.loads(bus.sent[-1][1])["power_w"] == -1200.0
    drawing["site-a"] = 0.0
    assert setpoints.publish() == {"bat-1": 0.0}
    assert setpoints.sent == {"bat-1": 0.0}


async def test_batteries_ask_for_a_new_plan_when_they_come_live_but_not_at_every_reading() -> None:
    from gateway.batteries import BatterySetpoints  # noqa: PLC0415

    asked: list[float] = []
    now = [0.0]
    setpoints = BatterySetpoints(
        Bus(),  # type: ignore[arg-type]
        ingest(),
        [BatteryConfig(id="bat-1", site_id="site-a", capacity_kwh=20, power_kw=5)],
        plan=lambda: None,
        clock=lambda: now[0],
        replan=lambda: asked.append(now[0]),
    )
    setpoints.on_event(BatteryStateChanged("bat-1", "site-a", "online", T0))
    setpoints.on_event(BatteryReading("bat-1", "site-a", 0.5, 0.0, T0))  # its first value: asked at once
    now[0] = 31.0
    setpoints.on_event(BatteryReading("bat-1", "site-a", 0.5, 0.0, T0))
    setpoints.soc_sources["bat-1"] = [(0.5, "measured")]
    now[0] = 100.0
    setpoints.on_event(BatteryReading("bat-1", "site-a", 0.5, 0.0, T0))  # planned on it: nothing to ask
    assert asked == [0.0, 31.0]
