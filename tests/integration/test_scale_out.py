"""Two CoopGrid instances on one Mosquitto and one PostgreSQL (all real, on loopback)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform


async def fresh_database(server_url: str) -> str:
    name = f"s_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name}"))
    await engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def instance_settings(tmp_path: Path, instance: str, database: str, broker: tuple[str, int]) -> Any:
    return make_settings(
        tmp_path,
        instance_id=instance,
        database={"url": database},
        mqtt={"url": f"mqtt://{broker[0]}:{broker[1]}"},
        ocpp={"response_timeout_s": 5},
    )


async def wait_until(condition: Any, within_s: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_commands_cross_instances_and_the_scheduler_fails_over(
    tmp_path: Path, postgres_url: str, mosquitto: tuple[str, int]
) -> None:
    database = await fresh_database(postgres_url)
    contexts = {}
    platforms: dict[str, Platform] = {}
    for name in ("inst-a", "inst-b"):
        (tmp_path / name).mkdir()
        contexts[name] = running_platform(instance_settings(tmp_path / name, name, database, mosquitto))
    try:
        for name, context in contexts.items():
            platforms[name] = await context.__aenter__()
        a, b = platforms["inst-a"], platforms["inst-b"]
        await wait_until(lambda: a.leader or b.leader)
        await asyncio.sleep(2.5)  # a second poll: still exactly one leader
        assert a.leader != b.leader

        async with aiohttp.ClientSession() as http:
            # a charger connected to instance A ...
            async with http.ws_connect(f"{a.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws:
                boot = {"chargePointVendor": "V", "chargePointModel": "M"}
                await ws.send_str(json.dumps([2, "b", "BootNotification", boot]))
                while json.loads(await ws.receive_str(timeout=5))[0] != 3:
                    pass
                await wait_until(lambda: b.cluster.owner("CP-A") == "inst-a")
                async with http.get(f"{b.http_url}/api/chargepoints/CP-A") as response:
                    assert (await response.json())["connected"] is True

                # ... is commanded through instance B
                pending = asyncio.ensure_future(
                    http.post(f"{b.http_url}/api/chargepoints/CP-A/ocpp/Reset", json={"type": "Soft"})
                )
                while True:
                    frame = json.loads(await ws.receive_str(timeout=10))
                    if frame[0] == 2 and frame[2] == "Reset":
                        break
                    if frame[0] == 2:  # the calls that follow a boot
                        await ws.send_str(json.dumps([3, frame[1], {"configurationKey": []}]))
                await ws.send_str(json.dumps([3, frame[1], {"status": "Accepted"}]))
                response = await pending
                assert response.status == 200
                assert await response.json() == {"status": "Accepted"}

                # and a CallError from the charger comes back through B as a 502
                pending = asyncio.ensure_future(
                    http.post(f"{b.http_url}/api/chargepoints/CP-A/ocpp/UnlockConnector", json={"connectorId": 1})
                )
                frame = json.loads(await ws.receive_str(timeout=10))
                await ws.send_str(json.dumps([4, frame[1], "NotSupported", "no", {}]))
                response = await pending
                assert response.status == 502
                assert (await response.json())["error"]["code"] == "NotSupported"

        # the scheduler's instance goes away: the other takes over within 10 s
        leader = "inst-a" if a.leader else "inst-b"
        follower = platforms["inst-b" if leader == "inst-a" else "inst-a"]
        await contexts.pop(leader).__aexit__(None, None, None)
        started = asyncio.get_running_loop().time()
        await wait_until(lambda: follower.leader, within_s=10)
        assert asyncio.get_running_loop().time() - started < 10
    finally:
        for context in contexts.values():
            await context.__aexit__(None, None, None)
