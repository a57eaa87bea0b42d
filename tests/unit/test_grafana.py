"""Every Grafana panel queries a measurement and fields that the InfluxDB writer really writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gateway.influx import SCHEMA

DASHBOARDS = sorted((Path(__file__).parents[2] / "deploy" / "grafana" / "dashboards").glob("*.json"))
FROM = re.compile(r'FROM\s+"(\w+)"')
FIELD = re.compile(r'(?:mean|last|sum|count|max|min)\("(\w+)"\)')
GROUP_TAGS = re.compile(r"GROUP BY ([^)]*?)(?: fill\(|$)")


def queries(dashboard: Path) -> list[tuple[str, str]]:
    data = json.loads(dashboard.read_text(encoding="utf-8"))
    return [(panel["title"], target["query"]) for panel in data["panels"] for target in panel["targets"]]


def test_there_are_two_dashboards() -> None:
    assert [d.stem for d in DASHBOARDS] == ["cooperative", "operator"]


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda p: p.stem)
def test_every_query_uses_written_measurements_fields_and_tags(dashboard: Path) -> None:
    for title, query in queries(dashboard):
        measurements = FROM.findall(query)
        assert measurements, f"{title}: no measurement in {query}"
        for measurement in measurements:
            assert measurement in SCHEMA, f"{title}: {measurement} is never written"
        tags = {tag for m in measurements for tag in SCHEMA[m][0]}
        fields = {field for m in measurements for field in SCHEMA[m][1]}
        # inner queries alias their results; those names count as fields of the outer query
        aliases = set(re.findall(r'AS "(\w+)"', query))
        for field in FIELD.findall(query):
            assert field in fields | aliases, f"{title}: field {field} is not written to {measurements}"
        for group in GROUP_TAGS.findall(query):
            for tag in re.findall(r'"(\w+)"', group):
                assert tag in tags, f"{title}: tag {tag} is not written to {measurements}"
