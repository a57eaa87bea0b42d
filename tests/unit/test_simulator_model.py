"""The simulators' pure parts: the EV honouring charging profiles, fault specs and scenario files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.ev import EV, EVArrival, Profile, ProfileStore, drawn_current_a
from simulators.faults import BRANDS, QUIRKS, Faults, FaultSpecError
from simulators.scenario import Scenario, ScenarioError

NOW = datetime(1990, 6, 14, 15, tzinfo=UTC)
SCENARIOS = Path(__file__).parents[2] / "simulators" / "scenarios"


def profile16(
    profile_id: int,
    purpose: str,
    limits: list[tuple[int, float]],
    *,
    stack: int = 0,
    unit: str = "A",
    connector: int = 1,
    transaction_id: int | None = None,
    kind: str = "Relative",
    start: datetime | None = None,
) -> Profile:
    schedule: dict[str, object] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": lim} for s, lim in limits],
    }
    if start is not None:
        schedule["startSchedule"] = start.isoformat().replace("+00:00", "Z")
    payload: dict[str, object] = {
        "chargingProfileId": profile_id,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
    }
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    return Profile.from_16(connector, payload)


def offered(store: ProfileStore, *, tx: int | None = 7, elapsed: float = 0.0, now: datetime = NOW) -> float:
    return store.offer(1, tx, elapsed, now, 3, 230.0, 32.0)[0]


def test_no_profile_offers_the_chargers_maximum() -> None:
    assert offered(ProfileStore()) == 32.0


def test_tx_profile_wins_over_tx_default_and_the_station_maximum_caps_both() -> None:
    store = ProfileStore()
    store.install(profile16(1, "TxDefaultProfile", [(0, 10.0)], connector=0))
    assert offered(store) == 10.0
    store.install(profile16(2, "TxProfile", [(0, 20.0)], transaction_id=7))
    assert offered(store) == 20.0
    assert offered(store, tx=8) == 10.0  # another transaction's profile does not apply
    store.install(profile16(3, "ChargePointMaxProfile", [(0, 16.0)], connector=0))
    assert offered(store) == 16.0


def test_highest_stack_level_wins_and_a_same_level_profile_replaces() -> None:
    store = ProfileStore()
    store.install(profile16(1, "TxDefaultProfile", [(0, 10.0)], stack=1))
    store.install(profile16(2, "TxDefaultProfile", [(0, 25.0)], stack=3))
    assert offered(store) == 25.0
    store.install(profile16(4, "TxDefaultProfile", [(0, 12.0)], stack=3))
    assert offered(store) == 12.0
    assert len(store.profiles) == 2


def test_schedule_periods_follow_time_relative_and_absolute() -> None:
    store = ProfileStore()
    store.install(profile16(1, "TxProfile", [(0, 8.0), (600, 16.0), (1200, 6.0)], transaction_id=7))
    assert [offered(store, elapsed=t) for t in (0, 599, 600, 1300)] == [8.0, 8.0, 16.0, 6.0]
    absolute = ProfileStore()
    absolute.install(
        profile16(2, "TxDefaultProfile", [(0, 10.0), (3600, 20.0)], kind="Absolute", start=NOW - timedelta(hours=1))
    )
    assert offered(absolute, now=NOW) == 20.0
    assert offered(absolute, now=NOW - timedelta(minutes=30)) == 10.0


def test_limits_in_watts_become_amperes_per_phase() -> None:
    store = ProfileStore()
    store.install(profile16(1, "TxProfile", [(0, 6900.0)], unit="W", transaction_id=7))
    assert offered(store) == pytest.approx(10.0)


def test_a_zero_ampere_connector_default_is_not_replaced_by_the_station_wide_default() -> None:
    store = ProfileStore()
    store.install(profile16(1, "TxDefaultProfile", [(0, 16.0)], connector=0))
    store.install(profile16(2, "TxDefaultProfile", [(0, 0.0)], connector=1))
    assert offered(store) == 0.0


def test_clearing_and_ending_a_transaction_remove_profiles() -> None:
    store = ProfileStore()
    store.install(profile16(1, "TxProfile", [(0, 8.0)], transaction_id=7))
    store.install(profile16(2, "TxDefaultProfile", [(0, 12.0)]))
    store.drop_transaction(7)
    assert offered(store) == 12.0
    assert store.clear(purpose="TxDefaultProfile") == 1
    assert offered(store) == 32.0


def test_the_ev_draws_the_smaller_of_offer_and_acceptance_pauses_below_6_a_and_tapers_when_full() -> None:
    ev = EV.arriving(EVArrival(0.0, battery_wh=50_000.0, soc=0.5, target_soc=1.0, max_power_w=11_000.0))
    assert drawn_current_a(32.0, ev, 3, 230.0) == pytest.approx(11_000 / 690)
    assert drawn_current_a(10.0, ev, 3, 230.0) == 10.0
    assert drawn_current_a(5.9, ev, 3, 230.0) == 0.0
    ev.charge(20_000.0)  # 90 %: tapering above 80 %
    assert drawn_current_a(32.0, ev, 3, 230.0) < 11_000 / 690 * 0.6
    ev.charge(10_000.0)
    assert ev.full
    assert drawn_current_a(32.0, ev, 3, 230.0) == 0.0


def test_fault_specs_parse_and_brands_expand() -> None:
    faults = Faults.parse("drop=30, slow=2.5,dup=0.1,quirks=grizzl-e+double-stop,reject-profiles")
    assert faults == Faults(30.0, 2.5, 0.1, frozenset({"no-subprotocol", "double-stop"}), True)
    assert Faults.parse("") == Faults()
    assert not Faults().any
    assert all(BRANDS[b] <= set(QUIRKS) for b in BRANDS)


@pytest.mark.parametrize(
    ("spec", "names"),
    [("drop=x", "'x' is not a number"), ("dup=2", "fraction"), ("quirks=nope", "unknown quirk"), ("fly", "unknown")],
)
def test_bad_fault_specs_say_what_is_wrong(spec: str, names: str) -> None:
    with pytest.raises(FaultSpecError, match=names):
        Faults.parse(spec)


@given(st.text(max_size=80))
def test_any_fault_spec_parses_or_is_refused_clearly(spec: str) -> None:
    try:
        Faults.parse(spec)
    except FaultSpecError as exc:
        message = str(exc)
        assert message, "a refusal must say why"


def test_the_shipped_scenario_loads_and_is_reproducible() -> None:
    path = SCENARIOS / "sunny-saturday.toml"
    scenario = Scenario.load(path)
    assert scenario.duration_s == 4 * 3600
    first, again = scenario.arrivals(), Scenario.load(path).arrivals()
    assert first == again
    for site in scenario.sites:
        for charger_id in site.charger_ids():
            for arrival in first[charger_id]:
                window = site.arrivals.window_h
                assert window[0] * 3600 <= arrival.arrive_after_s <= window[1] * 3600
                assert 0 < arrival.soc < arrival.target_soc


def test_a_larger_fleet_draws_about_the_mean_number_of_evs(tmp_path: Path) -> None:
    path = tmp_path / "many.toml"
    path.write_text('[[sites]]\nid = "s"\nchargers = 400\n[sites.arrivals]\nper_charger = 2\n')
    plans = Scenario.load(path).arrivals()
    assert len(plans) == 400
    assert 700 < sum(len(p) for p in plans.values()) < 900


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[scenario]\nspeed = -1\n", "scenario.speed"),
        ('[[sites]]\nid = "s"\nfaults = "drop=x"\n', "sites.0.faults"),
        ('[[parks]]\nid = "p"\n', "rated_power_w"),
        ('[weather]\nlocation = "atlantis"\n', "weather.location"),
        ('[central_system]\nurl = "http://x"\n', "central_system.url"),
        ('[[sites]]\nid = "a"\nprefix = "X"\n[[sites]]\nid = "b"\nprefix = "X"\n', "repeat"),
        ("[scenario\n", "not valid TOML"),
        ("[surprise]\nx = 1\n", "surprise"),
    ],
)
def test_a_bad_scenario_names_the_field(tmp_path: Path, text: str, names: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=names.replace(".", r"\.")):
        Scenario.load(path)


@given(st.binary(max_size=200))
def test_any_bytes_as_a_scenario_load_or_raise_scenario_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "s.toml"
    path.write_bytes(data)
    try:
        Scenario.load(path)
    except ScenarioError as exc:
        message = str(exc)
        assert str(path) in message


def test_a_scenario_site_may_speak_21(tmp_path: Path) -> None:
    from simulators.chargepoint import SimulatedChargePoint
    from simulators.chargepoint21 import SimulatedChargePoint21
    from simulators.chargepoint201 import SimulatedChargePoint201
    from simulators.fleet import Fleet

    path = tmp_path / "v21.toml"
    path.write_text(
        '[[sites]]\nid = "a"\nprefix = "A-"\nchargers = 2\nprotocol = "2.1"\n'
        '[[sites]]\nid = "b"\nprefix = "B-"\nchargers = 2\nprotocol = "mixed"\n'
    )
    fleet = Fleet.from_scenario(Scenario.load(path), url="ws://127.0.0.1:1/ocpp")
    kinds = {c.id: type(c) for c in fleet.chargers}
    assert kinds == {
        "A-1": SimulatedChargePoint21,
        "A-2": SimulatedChargePoint21,
        "B-1": SimulatedChargePoint,
        "B-2": SimulatedChargePoint201,
    }
    assert {c.subprotocol for c in fleet.chargers if c.id.startswith("A-")} == {"ocpp2.1"}
