"""The planning-scenario format (../shared/PLANNER-SCENARIOS.md): a contract, so every refusal names its key."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))  # as the benchmark imports it

from scenario_file import ScenarioError, load, parse_series, parse_spec  # noqa: E402

SCENARIOS = Path(__file__).resolve().parents[2] / "benchmarks" / "scenarios"

START = datetime(1990, 5, 10, 4, tzinfo=UTC)


def minimal(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "t",
        "start": "1990-05-10T04:00:00Z",
        "end": "1990-05-10T06:00:00Z",
        "step_s": 60,
        "sites": [{"id": "hill", "grid_limit_a": 50}],
        "parks": [{"id": "p", "member_id": "m", "profile_csv": "p.csv"}],
        "chargers": [{"id": "c1", "site_id": "hill", "max_current_a": 16, "phases": 3}],
        "evs": [
            {
                "charger_id": "c1",
                "arrival": "1990-05-10T04:30:00Z",
                "departure": "1990-05-10T05:30:00Z",
                "energy_wh": 5000,
            }
        ],
    }
    data.update(over)
    return data


def write(tmp_path: Path, data: dict[str, Any], csv: str | None = None) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    (tmp_path / "p.csv").write_text(
        csv if csv is not None else "timestamp,power_w\n1990-05-10T04:00:00Z,100\n1990-05-10T05:00:00Z,300\n",
        encoding="utf-8",
    )
    return path


def test_a_minimal_file_loads_with_its_defaults(tmp_path: Path) -> None:
    sc = load(write(tmp_path, minimal()))
    assert sc.steps == 120
    assert sc.base_load_a["hill"] == (0.0,) * 120
    assert sc.parks[0].actual_w[:1] == (100.0,)
    assert sc.parks[0].actual_w[60:61] == (300.0,)
    assert sc.spec.evs[0].mode == "departure"
    assert sc.spec.sites[0].voltage_v == 230
    assert sc.import_eur_per_kwh is None


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"step_s": 0}, "step_s"),
        ({"end": "1990-05-10T03:00:00Z"}, "end"),
        ({"start": "1990-05-10T04:00:00"}, "start"),
        ({"sites": [{"id": "hill"}]}, "sites[0].grid_limit_a"),
        ({"sites": [{"id": "hill", "grid_limit_a": 50, "grid_limt": 3}]}, "sites[0].grid_limt: unknown key"),
        ({"chargers": [{"id": "c1", "site_id": "nowhere", "max_current_a": 16, "phases": 3}]}, "chargers[0].site_id"),
        ({"chargers": [{"id": "c1", "site_id": "hill", "max_current_a": 16, "phases": 2}]}, "chargers[0].phases"),
        ({"evs": [{"charger_id": "c9", "arrival": "1990-05-10T04:30:00Z",
                   "departure": "1990-05-10T05:30:00Z", "energy_wh": 1}]}, "evs[0].charger_id"),
        ({"evs": [{"charger_id": "c1", "arrival": "1990-05-10T05:30:00Z",
                   "departure": "1990-05-10T04:30:00Z", "energy_wh": 1}]}, "departure must be after arrival"),
        ({"evs": [{"charger_id": "c1", "arrival": "1990-05-10T04:30:00Z",
                   "departure": "1990-05-10T05:30:00Z", "energy_wh": 1, "mode": "turbo"}]}, "evs[0].mode"),
        ({"batteries": [{"id": "b", "site_id": "hill", "capacity_wh": 1, "max_charge_w": 1,
                         "max_discharge_w": 1, "soc_start": 2}]}, "batteries[0].soc_start"),
        ({"prices": {"file": "x.csv"}}, "prices.csv"),
    ],
)  # fmt: skip
def test_an_invalid_file_is_refused_naming_the_key(tmp_path: Path, change: dict[str, Any], named: str) -> None:
    with pytest.raises(ScenarioError, match=named.replace("[", r"\[").replace("]", r"\]")):
        load(write(tmp_path, minimal(**change)))


def test_bad_series_name_the_file_key_and_line(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"parks\[0\].profile_csv.*line 3"):
        load(write(tmp_path, minimal(), "timestamp,power_w\n1990-05-10T04:00:00Z,1\n1990-05-10T04:00:00Z,2\n"))
    with pytest.raises(ScenarioError, match=r"parks\[0\].profile_csv.*after the scenario's start"):
        load(write(tmp_path, minimal(), "1990-05-10T05:00:00Z,1\n"))
    with pytest.raises(ScenarioError, match=r"parks\[0\].profile_csv: cannot read"):
        load(write(tmp_path, minimal(parks=[{"id": "p", "member_id": "m", "profile_csv": "gone.csv"}])))


def test_every_committed_scenario_loads() -> None:
    files = sorted(SCENARIOS.glob("*.toml"))
    assert len(files) >= 8
    for path in files:
        sc = load(path)
        assert sc.steps > 0
        assert sc.spec.evs


# -- hypothesis: what the writer writes, the parser reads back; whatever the text, only ScenarioError ---------

names = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=8)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    steps = draw(st.integers(1, 48))
    step_s = draw(st.sampled_from([60, 300, 900]))
    site_ids = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    chargers = [
        {"id": f"c{k}", "site_id": draw(st.sampled_from(site_ids)), "max_current_a": draw(st.floats(6, 63)),
         "phases": draw(st.sampled_from([1, 3]))}
        for k in range(draw(st.integers(0, 4)))
    ]  # fmt: skip
    evs = []
    for c in chargers:
        if draw(st.booleans()):
            a = draw(st.integers(0, steps * step_s - 1))
            d = draw(st.integers(a + 1, steps * step_s))
            evs.append(
                {"charger_id": c["id"], "arrival": START + timedelta(seconds=a),
                 "departure": START + timedelta(seconds=d), "energy_wh": draw(st.floats(0, 1e5)),
                 "mode": draw(st.sampled_from(["departure", "green", "green_min", "fast"]))}
            )  # fmt: skip
    return {
        "name": draw(names),
        "start": START,
        "end": START + timedelta(seconds=steps * step_s),
        "step_s": step_s,
        "sites": [
            {"id": s, "grid_limit_a": draw(st.floats(1, 400)), "base_load_a": draw(st.floats(0, 50))} for s in site_ids
        ],  # fmt: skip
        "chargers": chargers,
        "evs": evs,
    }


@settings(max_examples=80, deadline=None)
@given(data=scenarios())
def test_what_is_written_is_read_back(data: dict[str, Any]) -> None:
    spec = parse_spec(tomli_w.dumps(data))
    assert spec.name == data["name"]
    assert spec.step_s == data["step_s"]
    assert [s.id for s in spec.sites] == [s["id"] for s in data["sites"]]
    assert [(e.charger_id, e.arrival, e.departure, e.energy_wh) for e in spec.evs] == [
        (e["charger_id"], e["arrival"], e["departure"], e["energy_wh"]) for e in data["evs"]
    ]


@settings(max_examples=80, deadline=None)
@given(data=scenarios(), key=st.sampled_from(["name", "start", "end", "step_s", "sites"]))
def test_a_missing_required_key_is_named(data: dict[str, Any], key: str) -> None:
    del data[key]
    with pytest.raises(ScenarioError, match=key):
        parse_spec(tomli_w.dumps(data))


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_any_text_is_parsed_or_refused_cleanly(text: str) -> None:
    try:
        parse_spec(text)
    except ScenarioError:
        pass
    try:
        rows = parse_series(text, "x.csv", 1)
    except ScenarioError:
        return
    assert all(a[0] < b[0] for a, b in zip(rows, rows[1:], strict=False))
