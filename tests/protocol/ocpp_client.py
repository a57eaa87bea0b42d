"""A raw OCPP-J client for protocol tests: frames as Python lists (or raw text), nothing hidden."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from gateway.platform import Platform

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}


def server_call_answer(frame: list[Any]) -> dict[str, Any]:
    """A schema-valid answer to a call of the central system (the configuration it does after a boot)."""
    action = frame[2]
    if action == "GetConfiguration":
        return {"configurationKey": []}
    if action == "GetVariables":
        requested = frame[3]["getVariableData"]
        return {
            "getVariableResult": [
                {"attributeStatus": "Rejected", "component": r["component"], "variable": r["variable"]}
                for r in requested
            ]
        }
    return {"status": "Accepted"}


class Client:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.server_calls: list[list[Any]] = []

    async def receive(self) -> list[Any]:
        """The next frame that is not a call of the central system (those are answered meanwhile)."""
        while True:
            message = await self.ws.receive(timeout=5.0)
            assert message.type == aiohttp.WSMsgType.TEXT, f"the connection ended: {message}"
            frame = json.loads(message.data)
            if frame[0] != 2:
                return list(frame)
            self.server_calls.append(frame)
            await self.ws.send_str(json.dumps([3, frame[1], server_call_answer(frame)]))

    async def send_raw(self, text: str) -> list[Any]:
        await self.ws.send_str(text)
        return await self.receive()

    async def call(self, unique_id: str, action: str, payload: Any) -> list[Any]:
        return await self.send_raw(json.dumps([2, unique_id, action, payload]))

    async def alive(self) -> None:
        """The connection still serves: a Heartbeat is answered."""
        answer = await self.call("alive", "Heartbeat", {})
        assert answer[:2] == [3, "alive"], answer
        assert "currentTime" in answer[2]


@asynccontextmanager
async def connected(platform: Platform, charger: str, version: str) -> AsyncIterator[Client]:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/{charger}", protocols=(SUBPROTOCOL[version],)) as ws,
    ):
        assert ws.protocol == SUBPROTOCOL[version]
        yield Client(ws)


def nested(levels: int, leaf: str = "1") -> str:
    """JSON text of `levels` lists one inside the other (built as text: json.dumps would recurse)."""
    return "[" * levels + leaf + "]" * levels
