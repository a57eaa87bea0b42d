"""A charger that goes silent (no frame, no pong) is closed on after three heartbeat intervals; one that only
answers pings stays."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from tests.fixtures.platform import make_settings, running_platform

BOOT = [2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]


async def test_a_silent_charger_is_closed_on_and_a_ponging_one_is_not(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ocpp={"heartbeat_interval_s": 1})
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        silent = await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",), autoping=False)
        alive = await http.ws_connect(f"{platform.ocpp_url}/CP-B", protocols=("ocpp1.6",), autoping=True)
        for ws in (silent, alive):
            await ws.send_str(json.dumps(BOOT))
        assert json.loads((await silent.receive(timeout=5)).data)[2]["status"] == "Accepted"

        async def keep_reading() -> None:  # reading is what answers the pings (autoping)
            async for _ in alive:
                pass

        reader = asyncio.create_task(keep_reading())
        loop = asyncio.get_running_loop()
        started = loop.time()
        while platform.central.is_connected("CP-A") and loop.time() - started < 10:  # noqa: ASYNC110
            await asyncio.sleep(0.1)  # CP-A reads nothing from here on: no pong goes back
        gone_after = loop.time() - started
        assert not platform.central.is_connected("CP-A")
        assert 2.0 <= gone_after <= 6.0  # three intervals of silence, judged once a second
        assert platform.central.is_connected("CP-B")
        reader.cancel()
        await alive.close()
        await silent.close()
