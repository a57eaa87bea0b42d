"""`coopgrid simulate ...` as a user runs it: a separate process against a running CoopGrid and a real broker."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.fixtures.platform import make_settings, running_platform

pytestmark = pytest.mark.integration


async def simulate(*args: str, within_s: float = 60.0) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "simulate",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), within_s)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        raise AssertionError(
            f"simulate {' '.join(args)} still ran after {within_s:.0f} s\n"
            f"{out.decode()[-2000:]}\n{err.decode()[-3000:]}"
        ) from None
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_bad_scenario_stops_with_the_field_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[sites]]\nid = "s"\nphases = 2\n')
    code, _, err = await simulate("scenario", str(path))
    assert code == 2
    assert "sites.0.phases" in err
    code, _, err = await simulate("chargers", "--faults", "quirks=nope")
    assert code == 2
    assert "unknown quirk 'nope'" in err


async def test_chargers_then_a_lightweight_fleet_against_coopgrid(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        ocpp={"unknown_chargers": "accept"},
        chargers=[{"id": "CLI-1", "site_id": "site-a"}, {"id": "CLI-2", "site_id": "site-a"}],
        id_tags=[{"id": "DEMO-TAG"}],
    )
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        code, out, err = await simulate(
            "chargers", "--url", platform.ocpp_url, "--count", "2", "--prefix", "CLI-", "--speed", "600",
            "--duration", "1800", "--ev-every-h", "1", "--faults", "dup=0.5",
        )  # fmt: skip
        assert code == 0, err
        assert "2/2 up" in out
        assert "2 charging" in out
        assert "done:" in out
        async with http.get(f"{platform.http_url}/api/sessions") as response:
            sessions = [s for s in await response.json() if s["charge_point_id"].startswith("CLI-")]
        assert {s["charge_point_id"] for s in sessions} == {"CLI-1", "CLI-2"}

        code, out, err = await simulate(
            "chargers", "--lightweight", "--url", platform.ocpp_url, "--count", "300", "--duration", "6",
            "--meter-every", "2",
        )  # fmt: skip
        assert code == 0, err
        assert "300/300 up, 300 transactions" in out
        assert "KiB and" in out  # the simulator's own cost per charger
        async with http.get(f"{platform.http_url}/api/chargepoints") as response:
            known = {c["id"] for c in await response.json()}
        missing = {f"SIM-{n}" for n in range(1, 301)} - known
        assert not missing, (len(missing), sorted(missing)[:5], len(known), sorted(known)[:8])


async def test_a_scenario_drives_coopgrid_through_a_real_broker(tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    host, port = mosquitto
    settings = make_settings(
        tmp_path,
        mqtt={"url": f"mqtt://{host}:{port}", "client_id": "coopgrid-cli-test"},
        chargers=[{"id": "SC-1", "site_id": "site-a"}, {"id": "SC-2", "site_id": "site-a"}],
        id_tags=[{"id": "DEMO-TAG"}],
        cooperatives=[{"id": "coop", "members": [{"id": "m1"}]}],
        parks=[{"id": "park-x", "member_id": "m1", "inverters": [{"id": "inv-1", "rated_power_w": 20000.0}]}],
    )
    scenario = tmp_path / "day.toml"
    scenario.write_text(
        """
[scenario]
name = "test day"
start = 1990-06-14T15:00:00Z
speed = 600
duration_h = 2
seed = 3

[[sites]]
id = "site-a"
prefix = "SC-"
chargers = 2
protocol = "mixed"
[sites.arrivals]
per_charger = 3
window_h = [0.0, 0.2]

[[parks]]
id = "park-x"
inverters = 1
rated_power_w = 20000
module = "Canadian_Solar_Inc__CS5C_90M"
inverter = "SMA_America__SB5000US__240V_"
"""
    )
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        code, out, err = await simulate(
            "scenario", str(scenario), "--url", platform.ocpp_url, "--mqtt", f"{host}:{port}", within_s=90
        )
        assert code == 0, err
        assert out.startswith("scenario 'test day': 2 chargers, 1 parks")
        assert "100.0%" in out
        async with http.get(f"{platform.http_url}/api/sessions") as response:
            sessions = await response.json()
        assert {s["charge_point_id"] for s in sessions} == {"SC-1", "SC-2"}
        assert sum(s["energy_wh"] for s in sessions) > 0
        async with http.get(f"{platform.http_url}/api/parks") as response:
            parks = await response.json()
        assert parks[0]["energy_today_wh"] > 0, parks
        assert parks[0]["inverters"][0]["state"] == "offline", parks  # said so as the simulator ended


async def test_simulate_chargers_speaks_21_to_coopgrid(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, chargers=[], id_tags=[{"id": "DEMO-TAG"}])
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        code, out, err = await simulate(
            "chargers", "--url", platform.ocpp_url, "--count", "1", "--prefix", "V21-", "--protocol", "2.1",
            "--speed", "600", "--duration", "1800", "--ev-every-h", "1",
        )  # fmt: skip
        assert code == 0, err
        assert "1 2.1 chargers" in out
        assert "1 charging" in out
        async with http.get(f"{platform.http_url}/api/chargepoints/V21-1") as response:
            assert (await response.json())["ocpp_version"] == "2.1"
        async with http.get(f"{platform.http_url}/api/sessions?chargepoint=V21-1") as response:
            sessions = await response.json()
        assert len(sessions) == 1
        assert sessions[0]["energy_wh"] > 0
