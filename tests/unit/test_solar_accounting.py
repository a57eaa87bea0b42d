"""One-minute energy intervals from counters and power: exact totals whatever the order, gaps and restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from solar.accounting import Baseline, EnergyMinutes, rollup, spread

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def totals(drained: dict[tuple[str, datetime], float]) -> dict[datetime, float]:
    out: dict[datetime, float] = {}
    for (_, minute), wh in drained.items():
        out[minute] = out.get(minute, 0.0) + wh
    return out


def test_counter_deltas_land_in_their_minutes_and_a_gap_is_spread() -> None:
    acc = EnergyMinutes()
    acc.counter("p/i", at(0), 1000.0)
    acc.counter("p/i", at(60), 1010.0)
    acc.counter("p/i", at(300), 1050.0)  # four minutes of silence, 40 Wh
    minutes = totals(acc.drain())
    assert minutes == {at(0): pytest.approx(10.0), **{at(60 * k): pytest.approx(10.0) for k in range(1, 5)}}


def test_duplicates_and_out_of_order_readings_add_nothing() -> None:
    acc = EnergyMinutes()
    acc.counter("k", at(0), 500.0)
    acc.counter("k", at(30), 505.0)
    assert acc.counter("k", at(30), 505.0) == 0.0
    assert acc.counter("k", at(10), 501.0) == 0.0
    acc.counter("k", at(60), 510.0)
    assert sum(acc.drain().values()) == pytest.approx(10.0)
    assert acc.ignored == 2


def test_a_counter_reset_counts_from_its_new_start() -> None:
    acc = EnergyMinutes()
    acc.counter("k", at(0), 90_000.0)
    acc.counter("k", at(60), 90_020.0)
    acc.counter("k", at(120), 7.0)  # reset: 7 Wh since
    assert sum(acc.drain().values()) == pytest.approx(27.0)
    assert acc.counter_resets == 1


def test_a_counter_a_little_lower_is_a_glitch_not_a_reset() -> None:
    """Readings stamped on receipt by two instances can cross: the lower one comes with the later time."""
    acc = EnergyMinutes()
    acc.counter("k", at(0), 90_000.0)
    acc.counter("k", at(60), 90_020.0)
    assert acc.counter("k", at(61), 90_010.0) == 0.0  # crossed on its way: ignored, the baseline stands
    assert acc.counter("k", at(120), 90_040.0) == pytest.approx(20.0)
    assert acc.counter("k", at(150), 82_000.0) == 0.0  # 8.9 % lower: still a glitch
    assert acc.counter("k", at(180), 80_000.0) == pytest.approx(80_000.0)  # 11.2 % lower: reset, counts anew
    assert acc.counter_resets == 1
    assert acc.ignored == 2


def test_power_is_held_until_the_next_sample_but_not_over_a_long_silence() -> None:
    acc = EnergyMinutes(max_hold_s=120)
    acc.power("k", at(0), 600.0)
    acc.power("k", at(60), 1200.0)  # 600 W for a minute: 10 Wh
    acc.power("k", at(3660), 0.0)  # an hour of silence: held 2 minutes only, 40 Wh
    assert sum(acc.drain().values()) == pytest.approx(50.0)


def test_an_inverter_with_a_counter_is_not_also_integrated() -> None:
    acc = EnergyMinutes()
    acc.counter("k", at(0), 0.0)
    acc.power("k", at(30), 5000.0)
    acc.counter("k", at(60), 12.0)
    acc.power("k", at(90), 5000.0)
    assert sum(acc.drain().values()) == pytest.approx(12.0)


def test_restart_from_stored_baselines_is_exact() -> None:
    first = EnergyMinutes()
    first.counter("k", at(0), 100.0)
    first.counter("k", at(60), 130.0)
    stored = first.drain()
    baselines = first.baselines()
    first.counter("k", at(90), 140.0)  # never drained: lost with the process
    second = EnergyMinutes()
    second.restore(baselines)
    second.counter("k", at(120), 160.0)
    assert sum(stored.values()) + sum(second.drain().values()) == pytest.approx(60.0)


def test_rollup_to_buckets() -> None:
    rows = [(at(60 * k), 1.0) for k in range(120)]  # two hours of minutes
    assert [wh for _, wh in rollup(rows, "15min")] == [15.0] * 8
    assert rollup(rows, "hour") == [(at(0), 60.0), (at(3600), 60.0)]
    assert rollup(rows, "day") == [(T0.replace(hour=0), 120.0)]
    assert rollup(rows, "month") == [(T0.replace(day=1, hour=0), 120.0)]
    with pytest.raises(ValueError, match="unknown bucket"):
        rollup(rows, "week")


readings = st.lists(
    st.tuples(st.integers(min_value=1, max_value=900), st.floats(min_value=0, max_value=5000)), min_size=1, max_size=40
)


@given(readings, st.randoms(use_true_random=False), st.integers(min_value=0, max_value=3))
def test_the_minutes_sum_to_the_counters_rise_whatever_duplicates_and_reordering(
    steps: list[tuple[int, float]], rnd: object, duplicates: int
) -> None:
    """A rising counter read at increasing times: delivered shuffled and duplicated, the total is the rise."""
    times, energy, samples = 0, 10_000.0, [(at(0), 10_000.0)]
    for dt, rise in steps:
        times, energy = times + dt, energy + rise
        samples.append((at(times), energy))
    delivered = samples + samples[: duplicates * 3]
    in_order = sorted(delivered, key=lambda s: s[0])
    acc = EnergyMinutes()
    for ts, value in in_order:
        acc.counter("k", ts, value)
    drained = acc.drain()
    assert sum(drained.values()) == pytest.approx(energy - 10_000.0, rel=1e-9, abs=1e-6)
    assert all(wh >= -1e-9 for wh in drained.values())
    # whatever arrives late after a newer reading adds nothing and takes nothing
    late = EnergyMinutes()
    order = list(delivered)
    rnd.shuffle(order)  # type: ignore[attr-defined]
    for ts, value in order:
        late.counter("k", ts, value)
    assert sum(late.drain().values()) <= energy - 10_000.0 + 1e-6
    assert late.counter_resets == 0


@given(
    st.floats(min_value=0, max_value=1e6),
    st.integers(min_value=0, max_value=7200),
    st.integers(min_value=0, max_value=59),
)
def test_spread_keeps_the_energy(wh: float, length_s: int, offset_s: int) -> None:
    parts = list(spread(at(offset_s), at(offset_s + length_s), wh))
    assert sum(p for _, p in parts) == pytest.approx(wh, rel=1e-9, abs=1e-9)
    assert all(minute.second == 0 for minute, _ in parts)


@given(
    readings,
    st.lists(st.integers(min_value=0, max_value=40), max_size=4),
    st.integers(min_value=0, max_value=40),
    st.booleans(),
)
def test_a_follower_taking_over_adds_exactly_what_the_writer_did_not_store(
    steps: list[tuple[int, float]], writes: list[int], handover: int, power_only: bool
) -> None:
    """Two instances see one stream; the writer stores now and then, then stops; the follower takes over."""
    times, energy, samples = 0, 500.0, [(at(0), 500.0, 0.0)]
    for dt, rise in steps:
        times, energy = times + dt, energy + rise
        samples.append((at(times), energy, rise))
    writer, follower = EnergyMinutes(), EnergyMinutes()
    stored: dict[tuple[str, datetime], float] = {}
    stored_base: dict[str, Baseline] = {}
    cut = min(handover, len(samples))

    def feed(acc: EnergyMinutes, ts: datetime, value: float, power_w: float) -> None:
        if power_only:
            acc.power("k", ts, power_w)
        else:
            acc.counter("k", ts, value)

    for n, (ts, value, rise) in enumerate(samples):
        for acc in (writer, follower) if n < cut else (follower,):
            feed(acc, ts, value, rise)
        if n < cut and n in writes:  # the writer stores; the follower sees the new baselines
            for key, wh in writer.drain().items():
                stored[key] = stored.get(key, 0.0) + wh
            stored_base = writer.baselines()
            writer.trim(stored_base)
            follower.follow(stored_base)
            follower.drain()
    follower.follow(stored_base)  # taking over: count on from what was stored last
    for key, wh in follower.drain().items():
        stored[key] = stored.get(key, 0.0) + wh
    alone = EnergyMinutes()
    for ts, value, rise in samples:
        feed(alone, ts, value, rise)
    expected = alone.drain()
    assert set(stored) == set(expected)
    for key, wh in expected.items():
        assert stored[key] == pytest.approx(wh, rel=1e-9, abs=1e-6)


def test_trim_forgets_what_is_stored() -> None:
    acc = EnergyMinutes()
    for k in range(5):
        acc.counter("k", at(60 * k), 100.0 + k)
    acc.trim({"k": Baseline(at(120), 102.0)})
    acc.drain()
    acc.follow({"k": Baseline(at(120), 102.0)})
    assert sum(acc.drain().values()) == pytest.approx(2.0)
    acc.trim(acc.baselines())
    acc.follow(acc.baselines())
    assert acc.drain() == {}
