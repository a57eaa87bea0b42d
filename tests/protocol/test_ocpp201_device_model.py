"""GetVariables, SetVariables, GetReport, SetVariableMonitoring and ClearVariableMonitoring split by what the
station reported (ItemsPerMessage, BytesPerMessage from NotifyReport or a GetVariables answer), exact frames;
the answers come back to REST as one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.test_ocpp201_csms_actions import connect_201


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(make_settings(tmp_path)) as running:
        yield running


def attribute(component: str, variable: str, instance: str, value: str) -> dict[str, Any]:
    return {
        "component": {"name": component},
        "variable": {"name": variable, "instance": instance},
        "variableAttribute": [{"type": "Actual", "value": value, "mutability": "ReadOnly"}],
    }


async def report(ws: aiohttp.ClientWebSocketResponse, *data: dict[str, Any]) -> None:
    payload = {"requestId": 1, "generatedAt": "2026-03-01T12:00:00Z", "seqNo": 0, "reportData": list(data)}
    await ws.send_str(json.dumps([2, "nr", "NotifyReport", payload]))
    assert json.loads(await ws.receive_str(timeout=5)) == [3, "nr", {}]


async def through_rest(
    http: aiohttp.ClientSession,
    platform: Platform,
    ws: aiohttp.ClientWebSocketResponse,
    action: str,
    body: dict[str, Any],
    answer: Callable[[dict[str, Any]], dict[str, Any]],
) -> tuple[list[str], dict[str, Any]]:
    """REST `action`; each call the station gets (its raw text kept) answered with answer(payload)."""
    url = f"{platform.http_url}/api/chargepoints/CP-A/ocpp/{action}"
    pending = asyncio.ensure_future(http.post(url, json=body))
    frames: list[str] = []
    while not pending.done():
        try:
            text = await ws.receive_str(timeout=0.05)
        except TimeoutError:
            continue
        frames.append(text)
        frame = json.loads(text)
        assert frame[2] == action
        await ws.send_str(json.dumps([3, frame[1], answer(frame[3])]))
    response = await pending
    assert response.status == 200, await response.text()
    return frames, await response.json()


def variables(n: int) -> list[dict[str, Any]]:
    return [{"component": {"name": "Ctrlr"}, "variable": {"name": f"Var{i}"}} for i in range(n)]


def get_results(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "getVariableResult": [
            {**r, "attributeStatus": "Accepted", "attributeValue": r["variable"]["name"]}
            for r in payload["getVariableData"]
        ]
    }


async def test_get_variables_split_by_items_per_message_from_notify_report(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await connect_201(http, platform)
        await report(ws, attribute("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables", "2"))
        frames, answer = await through_rest(
            http, platform, ws, "GetVariables", {"getVariableData": variables(5)}, get_results
        )
        assert [len(json.loads(f)[3]["getVariableData"]) for f in frames] == [2, 2, 1]
        assert [r["attributeValue"] for r in answer["getVariableResult"]] == [f"Var{i}" for i in range(5)]
        # the limit is stored in the device model with its instance
        async with http.get(f"{platform.http_url}/api/chargepoints/CP-A/variables") as response:
            stored = {(v["component"], v["variable"]): v["value"] for v in await response.json()}
        assert stored[("DeviceDataCtrlr", "ItemsPerMessage[GetVariables]")] == "2"
        await ws.close()


async def test_set_variables_split_by_bytes_per_message(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await connect_201(http, platform)
        await report(ws, attribute("DeviceDataCtrlr", "BytesPerMessage", "SetVariables", "300"))
        data = [{**v, "attributeValue": "é" * 40} for v in variables(6)]  # two bytes a character on the wire

        def set_results(payload: dict[str, Any]) -> dict[str, Any]:
            return {
                "setVariableResult": [
                    {"attributeStatus": "Accepted", "component": r["component"], "variable": r["variable"]}
                    for r in payload["setVariableData"]
                ]
            }

        frames, answer = await through_rest(http, platform, ws, "SetVariables", {"setVariableData": data}, set_results)
        assert len(frames) > 1
        assert all(len(f.encode()) <= 300 for f in frames)
        sent = [item for f in frames for item in json.loads(f)[3]["setVariableData"]]
        assert sent == data
        assert [r["variable"]["name"] for r in answer["setVariableResult"]] == [f"Var{i}" for i in range(6)]
        await ws.close()


async def test_monitoring_limits_learned_from_a_get_variables_answer(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await connect_201(http, platform)
        ask = {
            "getVariableData": [
                {"component": {"name": "MonitoringCtrlr"}, "variable": {"name": "ItemsPerMessage", "instance": i}}
                for i in ("ClearVariableMonitoring", "SetVariableMonitoring")
            ]
        }

        def limits(payload: dict[str, Any]) -> dict[str, Any]:
            return {
                "getVariableResult": [
                    {**r, "attributeStatus": "Accepted", "attributeValue": "1"} for r in payload["getVariableData"]
                ]
            }

        await through_rest(http, platform, ws, "GetVariables", ask, limits)

        def cleared(payload: dict[str, Any]) -> dict[str, Any]:
            return {"clearMonitoringResult": [{"id": i, "status": "Accepted"} for i in payload["id"]]}

        frames, answer = await through_rest(http, platform, ws, "ClearVariableMonitoring", {"id": [4, 5, 6]}, cleared)
        assert [json.loads(f)[3] for f in frames] == [{"id": [4]}, {"id": [5]}, {"id": [6]}]
        assert answer == {"clearMonitoringResult": [{"id": i, "status": "Accepted"} for i in (4, 5, 6)]}
        await ws.close()


async def test_get_report_parts_keep_the_request_id_and_answer_accepted(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await connect_201(http, platform)
        await report(ws, attribute("DeviceDataCtrlr", "ItemsPerMessage", "GetReport", "1"))
        statuses = iter(["EmptyResultSet", "Accepted"])
        body = {"requestId": 9, "componentVariable": [{"component": {"name": "A"}}, {"component": {"name": "B"}}]}
        frames, answer = await through_rest(http, platform, ws, "GetReport", body, lambda p: {"status": next(statuses)})
        assert [json.loads(f)[3] for f in frames] == [
            {"requestId": 9, "componentVariable": [{"component": {"name": "A"}}]},
            {"requestId": 9, "componentVariable": [{"component": {"name": "B"}}]},
        ]
        assert answer == {"status": "Accepted"}
        await ws.close()


async def test_limits_outlive_a_restart_through_the_stored_device_model(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with running_platform(settings) as first, aiohttp.ClientSession() as http:
        ws = await connect_201(http, first)
        await report(ws, attribute("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables", "2"))
        await ws.close()
    async with running_platform(settings) as second, aiohttp.ClientSession() as http:
        ws = await connect_201(http, second)
        frames, answer = await through_rest(
            http, second, ws, "GetVariables", {"getVariableData": variables(3)}, get_results
        )
        assert [len(json.loads(f)[3]["getVariableData"]) for f in frames] == [2, 1]
        assert len(answer["getVariableResult"]) == 3
        await ws.close()
