"""Shared fixtures. Service fixtures start their own processes on free loopback ports."""

from __future__ import annotations

pytest_plugins: list[str] = [
    "tests.fixtures.postgres",
    "tests.fixtures.mosquitto",
    "tests.fixtures.victoriametrics",
    "tests.fixtures.storage",
    "tests.fixtures.engines",
]
