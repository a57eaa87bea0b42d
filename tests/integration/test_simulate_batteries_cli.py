"""`coopgrid simulate batteries` as a user runs it: a separate process against a running CoopGrid over a real
Mosquitto; its telemetry reaches the platform and it follows the setpoints the platform sends it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fixtures.platform import make_settings, running_platform
from tests.integration.test_simulate_cli import simulate

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("layout", ["native", "victron"])
async def test_a_simulated_battery_against_coopgrid(tmp_path: Path, mosquitto: tuple[str, int], layout: str) -> None:
    host, port = mosquitto
    battery = {"id": "bat-1", "site_id": "site-a", "capacity_kwh": 20, "power_kw": 5, "layout": layout}
    if layout == "victron":
        battery["topic"] = "N/c0ffee000001/battery/512"
    settings = make_settings(
        tmp_path, mqtt={"url": f"mqtt://{host}:{port}", "client_id": f"coopgrid-cli-{layout}"}, batteries=[battery]
    )
    async with running_platform(settings) as platform:
        code, out, err = await simulate(
            "batteries", "--mqtt", f"{host}:{port}", "--layout", layout, "--battery", "bat-1", "--site", "site-a",
            "--soc", "0.7", "--interval", "0.2", "--duration", "12",
        )  # fmt: skip
        assert code == 0, err
        assert f"battery bat-1 ({layout})" in out
        followed = re.search(r"(\d+) setpoint\(s\) followed, (\d+) refused", out)
        assert followed is not None, out
        assert int(followed.group(1)) >= 1  # the leader sends the plan's setpoint every 5 s
        assert followed.group(2) == "0"
        view = platform.battery_telemetry.view("bat-1")
        assert view is not None
        assert view["accepted"] > 10
        assert view["soc"] == pytest.approx(0.7, abs=0.01)
