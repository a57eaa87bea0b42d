"""The lock-free hot-path metrics are exposed exactly as prometheus-client's own Counter and Histogram."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gateway.hot_metrics import HotCollector, LabelledCounter, LabelledHistogram
from gateway.metrics import Metrics

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
LABEL = st.sampled_from(["in", "out", "MeterValues", 'a"quote', "ünï"])


def _samples(registry: CollectorRegistry) -> list[str]:
    """The exposition's sample lines, without prometheus-client's `_created` timestamps."""
    text = generate_latest(registry).decode()
    return sorted(line for line in text.splitlines() if line and "_created" not in line)


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.tuples(LABEL, LABEL), max_size=40),
    observations=st.lists(
        st.tuples(LABEL, st.one_of(st.sampled_from(BUCKETS), st.floats(0, 100, allow_nan=False))), max_size=40
    ),
)
def test_the_exposition_is_prometheus_clients_own(counts, observations):
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    counter = Counter("x_calls_total", "calls", ["direction", "action"], registry=theirs)
    histogram = Histogram("x_call_seconds", "latency", ["direction"], buckets=BUCKETS, registry=theirs)
    hot_counter = LabelledCounter("x_calls_total", "calls", ["direction", "action"])
    hot_histogram = LabelledHistogram("x_call_seconds", "latency", "direction", BUCKETS)
    ours.register(HotCollector(hot_counter, hot_histogram))
    for direction, action in counts:
        counter.labels(direction=direction, action=action).inc()
        hot_counter.inc((direction, action))
    for direction, seconds in observations:
        histogram.labels(direction=direction).observe(seconds)
        hot_histogram.observe(direction, seconds)
    assert _samples(ours) == _samples(theirs)


def test_a_value_on_a_bucket_bound_counts_in_that_bucket():
    histogram = LabelledHistogram("x_seconds", "latency", "direction", (0.1, 1.0))
    histogram.observe("in", 0.1)
    histogram.observe("in", 1.5)
    family = histogram.family()
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    assert buckets == {"0.1": 1, "1.0": 1, "+Inf": 2}
    assert histogram.count("in") == 2


def test_the_platforms_metrics_count_ocpp_calls_and_events():
    metrics = Metrics()
    metrics.observe("in", "MeterValues", "ok", 0.002)
    metrics.observe("in", "MeterValues", "ok", 0.02)
    metrics.count_event("MeterSample")
    text = generate_latest(metrics.registry).decode()
    assert 'coopgrid_ocpp_messages_total{action="MeterValues",direction="in",outcome="ok"} 2.0' in text
    assert 'coopgrid_ocpp_call_seconds_bucket{direction="in",le="0.0025"} 1.0' in text
    assert 'coopgrid_ocpp_call_seconds_count{direction="in"} 2.0' in text
    assert 'coopgrid_events_total{type="MeterSample"} 1.0' in text
