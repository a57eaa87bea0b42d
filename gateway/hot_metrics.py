"""Counters and a latency histogram for what happens on every OCPP message, kept as plain numbers.

prometheus-client's Counter and Histogram take a lock on every increment (they are made for threads), which
is four lock round trips per OCPP call on the hot path. Everything here runs on the one event loop, so the
numbers are plain ints and floats in dicts, and they become Prometheus families only when /metrics is
scraped (a custom collector, exposed exactly as the Counter and Histogram they replace were).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric


class LabelledCounter:
    """A counter family: `inc(labels)` with a tuple of label values in `label_names` order."""

    def __init__(self, name: str, documentation: str, label_names: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.label_names = list(label_names)
        self.counts: dict[tuple[str, ...], int] = {}

    def inc(self, labels: tuple[str, ...]) -> None:
        counts = self.counts
        counts[labels] = counts.get(labels, 0) + 1

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.label_names)
        for labels, count in sorted(self.counts.items()):
            family.add_metric(list(labels), count)
        return family


class LabelledHistogram:
    """A histogram family with one label; `observe(label, seconds)` adds to the first bucket that holds it."""

    def __init__(self, name: str, documentation: str, label_name: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.label_name = label_name
        self.bounds = sorted(float(b) for b in buckets)
        self._series: dict[str, tuple[list[int], list[float]]] = {}  # label -> (per-bucket counts + inf, [sum])

    def observe(self, label: str, value: float) -> None:
        series = self._series.get(label)
        if series is None:
            series = self._series[label] = ([0] * (len(self.bounds) + 1), [0.0])
        series[0][bisect_left(self.bounds, value)] += 1  # bucket i holds values <= bounds[i] (le)
        series[1][0] += value

    def count(self, label: str) -> int:
        series = self._series.get(label)
        return sum(series[0]) if series else 0

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=[self.label_name])
        for label, (counts, total) in sorted(self._series.items()):
            cumulative, buckets = 0, []
            for bound, count in zip([*self.bounds, float("inf")], counts, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else _le(bound), cumulative))
            family.add_metric([label], buckets, total[0])
        return family


class HotCollector:
    """Registered on a CollectorRegistry: yields its families at each scrape."""

    def __init__(self, *families: LabelledCounter | LabelledHistogram) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            yield family.family()

    def describe(self) -> list[Metric]:  # no collect() at registration (the families are not built yet)
        return []


def _le(bound: float) -> str:
    """A bucket bound as prometheus-client writes it (0.005 -> '0.005', 1 -> '1.0')."""
    return repr(float(bound))
