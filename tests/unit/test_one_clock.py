"""One clock: nothing outside the composition root reads the wall clock (issue 15).

Every time CoopGrid derives (energy minutes, "today", session times, report defaults, InfluxDB points,
dashboard curves) comes from the platform's clock, which the demo and scenarios run simulated. The
composition root (gateway/platform.py) makes the real clock and the CLI (gateway/cli.py) may read it
for its own commands; a few edges judge security matters by the real world's time, never by a
simulated one, and say so here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("chargepoints", "solar", "smartgrid", "gateway")
COMPOSITION_ROOT = {"gateway/platform.py", "gateway/cli.py"}
SECURITY_WALL_CLOCK = {
    "gateway/pki.py",  # certificate validity: the real world's time, also in the demo
    "gateway/api/tokens.py",  # token expiry (see its docstring)
    "gateway/repositories/tokens.py",  # token expiry and last use, judged as gateway/api/tokens.py says
}
WALL_CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
                    ("time", "time"), ("time", "time_ns")}  # fmt: skip


def wall_clock_reads(source: str) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else None
            if (name, node.func.attr) in WALL_CLOCK_CALLS:
                lines.append(node.lineno)
    return lines


def test_the_scan_sees_a_wall_clock_read() -> None:
    assert wall_clock_reads("from datetime import datetime\nx = datetime.now()\n") == [2]
    assert wall_clock_reads("import datetime\nx = datetime.datetime.now(tz)\n") == [2]
    assert wall_clock_reads("import time\nx = time.time()\ny = time.monotonic()\n") == [2]


def test_no_wall_clock_outside_the_composition_root() -> None:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in COMPOSITION_ROOT or relative in SECURITY_WALL_CLOCK:
                continue
            found += [f"{relative}:{line}" for line in wall_clock_reads(path.read_text())]
    assert not found, f"wall-clock reads outside the composition root (take the platform's clock): {found}"
