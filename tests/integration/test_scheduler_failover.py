"""The scheduler's world survives restarts and failover (issue 16), with real processes: `coopgrid serve`
killed by SIGKILL, PostgreSQL or SQLite, Mosquitto; chargers as raw OCPP 1.6J clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fixtures.engines import Charger, Instance, charger, iso
from tests.integration.test_scale_out import fresh_database
from tests.integration.test_scheduler_world import next_limit

pytestmark = pytest.mark.integration


async def rest(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with http.request(method, url, json=body) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None


async def limit_within(cp: Charger, wanted: float, within_s: float) -> float:
    """Seconds until a SetChargingProfile of `wanted` A arrives (other central-system calls answered)."""
    started = time.monotonic()
    seen: list[float] = []
    while (left := within_s - (time.monotonic() - started)) > 0:
        try:
            seen.append(await next_limit(cp, left))  # type: ignore[arg-type]
        except TimeoutError:
            break
        if seen[-1] == wanted:
            return time.monotonic() - started
    raise AssertionError(f"no SetChargingProfile of {wanted} A within {within_s} s (saw {seen})")


async def start_session(cp: Charger, t0: datetime) -> int:
    await cp.boot()
    start = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 1000, "timestamp": iso(t0)}
    answer = await cp.result("StartTransaction", start)
    await cp.meter(answer["transactionId"], 2500.0, t0 + timedelta(seconds=30))
    return int(answer["transactionId"])


async def limits_shown(http: aiohttp.ClientSession, url: str, wanted: list[float], within_s: float = 5.0) -> None:
    """GET an allocation until its limits are `wanted` (it is published once the charger has answered)."""
    deadline = time.monotonic() + within_s
    while True:
        _, allocation = await rest(http, "GET", url)
        limits = [p["limit_a"] for p in allocation["setpoints"]]
        if limits == wanted:
            return
        assert time.monotonic() < deadline, limits
        await asyncio.sleep(0.1)


async def healthz(http: aiohttp.ClientSession, instance: Instance) -> dict[str, Any]:
    answer: dict[str, Any] = (await rest(http, "GET", f"{instance.http_url}/healthz"))[1]
    return answer


async def test_a_killed_single_instance_restarts_with_its_sessions_modes_and_rest_world(
    tmp_path: Path, mosquitto: tuple[str, int], instances: list[Instance]
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'one.db'}"
    one = Instance(tmp_path, "solo", database, mosquitto)
    instances.append(one.start())
    t0 = datetime.now(UTC).replace(microsecond=0)
    async with aiohttp.ClientSession() as http:
        api = f"{one.http_url}/api"
        assert (await rest(http, "POST", f"{api}/sites", {"id": "depot", "grid_limit_a": 12.0}))[0] == 201
        assert (await rest(http, "POST", f"{api}/chargepoints", {"id": "CP-SOLO", "site_id": "depot"}))[0] == 201
        async with charger(http, f"{one.ocpp_url}/CP-SOLO") as cp:
            transaction_id = await start_session(cp, t0)
            status, _ = await rest(
                http, "PUT", f"{api}/sessions/{transaction_id}/mode", {"mode": "fast", "priority": 4}
            )
            assert status == 200
            await limit_within(cp, 12.0, 10)  # the REST site's grid limit
            await asyncio.sleep(2.5)  # the register written behind
            one.kill()
            with contextlib.suppress(Exception):
                await cp.ws.receive(timeout=5)
        one.start()
        async with charger(http, f"{one.ocpp_url}/CP-SOLO") as cp:
            await cp.boot()
            # re-adopted with the mode set before the kill (a green session would get 0 A: no sun)
            assert await limit_within(cp, 12.0, 5) < 5
        _, session = await rest(http, "GET", f"{api}/sessions/{transaction_id}")
        assert (session["mode"], session["priority"], session["active"]) == ("fast", 4, True)
        assert session["energy_wh"] == pytest.approx(1500.0)
        await limits_shown(http, f"{api}/sites/depot/allocation", [12.0])


async def test_the_killed_leaders_sessions_and_modes_are_taken_over_within_10_s(
    tmp_path: Path, postgres_url: str, mosquitto: tuple[str, int], instances: list[Instance]
) -> None:
    database = await fresh_database(postgres_url)
    first = Instance(tmp_path, "fo-a", database, mosquitto).start()
    instances.append(first)
    second = Instance(tmp_path, "fo-b", database, mosquitto)
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            if (await healthz(http, first))["scheduler_leader"]:
                break
            await asyncio.sleep(0.1)
        instances.append(second.start())  # started second: a follower
        leader, follower = first, second
        api = f"{follower.http_url}/api"
        # the world is made through the follower: stored, announced, and the leader follows
        assert (await rest(http, "POST", f"{api}/sites", {"id": "hall", "grid_limit_a": 20.0}))[0] == 201
        body = {"id": "CP-FO", "site_id": "hall", "max_current_a": 14.0}
        assert (await rest(http, "POST", f"{api}/chargepoints", body))[0] == 201
        t0 = datetime.now(UTC).replace(microsecond=0)
        async with charger(http, f"{follower.ocpp_url}/CP-FO") as cp:
            transaction_id = await start_session(cp, t0)
            await limit_within(cp, 0.0, 10)  # green, no sun: the leader has taken the session in
            status, _ = await rest(http, "PUT", f"{api}/sessions/{transaction_id}/mode", {"mode": "fast"})
            assert status == 200  # set on the follower ...
            await limit_within(cp, 14.0, 10)  # ... and applied by the leader
            assert (await healthz(http, leader))["scheduler_leader"] is True
            await limits_shown(http, f"{api}/sites/hall/allocation", [14.0])  # read on the follower

            leader.kill()
            # the follower leads, re-adopts the session with its mode and sends its limit again
            took = await limit_within(cp, 14.0, 10)
            assert took < 10
            assert (await healthz(http, follower))["scheduler_leader"] is True
            status, _ = await rest(http, "PATCH", f"{api}/sites/hall", {"grid_limit_a": 9.0})
            assert status == 200
            await limit_within(cp, 9.0, 5)
