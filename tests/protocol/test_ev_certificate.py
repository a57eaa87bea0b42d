"""ISO 15118 Plug & Charge, Get15118EVCertificate (M02), exact frames: the station's EXI request relayed to
the configured contract-certificate service (a loopback double) and its answer returned; Failed without a
service, when it fails, and when its answer is longer than the station's version allows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.settings import ConfigError
from tests.fixtures.loopback import serving
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.ocpp_client import connected

REQUEST = {"iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef", "action": "Install", "exiRequest": "gAAAAQ=="}


@dataclass
class ContractServiceDouble:
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    answer: Any = field(default_factory=lambda: {"status": "Accepted", "exiResponse": "gAECAwQ="})
    http_status: int = 200

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        return web.json_response(self.answer, status=self.http_status)


@asynccontextmanager
async def contract_service() -> AsyncIterator[ContractServiceDouble]:
    double = ContractServiceDouble()
    app = web.Application()
    app.router.add_post("/ev-certificate", double.handle)
    async with serving(app) as base:
        double.url = f"{base}/ev-certificate"
        yield double


async def ask(platform: Any, version: str = "2.0.1") -> Any:
    async with connected(platform, "CP-A", version) as client:
        return await client.call("c", "Get15118EVCertificate", REQUEST)


async def test_the_request_is_relayed_and_the_answer_returned(tmp_path: Path) -> None:
    async with contract_service() as service:
        settings = make_settings(tmp_path, ocpp={"contract_service_url": service.url})
        async with running_platform(settings) as platform:
            assert await ask(platform) == [3, "c", {"status": "Accepted", "exiResponse": "gAECAwQ="}]
            assert service.received == [{**REQUEST, "chargingStationId": "CP-A"}]
            service.answer = {"status": "Failed", "exiResponse": ""}  # the service's own refusal, passed on
            assert await ask(platform) == [3, "c", {"status": "Failed", "exiResponse": ""}]
            service.http_status = 503
            assert await ask(platform) == [3, "c", {"status": "Failed", "exiResponse": ""}]
            service.http_status, service.answer = 200, {"exi": "not the shape"}
            assert await ask(platform) == [3, "c", {"status": "Failed", "exiResponse": ""}]
            service.answer = {"status": "Accepted", "exiResponse": "A" * 8000}  # over 2.0.1's 7,500
            assert await ask(platform) == [3, "c", {"status": "Failed", "exiResponse": ""}]
            assert await ask(platform, "2.1") == [3, "c", {"status": "Accepted", "exiResponse": "A" * 8000}]
            events = await platform.store.events.list("CP-A")
            statuses = [e["payload"]["status"] for e in events if e["kind"] == "Get15118EVCertificate"]
            assert statuses == ["Accepted", "Failed", "Failed", "Failed", "Failed", "Accepted"][::-1]


async def test_without_a_service_the_station_is_answered_failed(tmp_path: Path) -> None:
    async with running_platform(make_settings(tmp_path)) as platform:
        assert await ask(platform) == [3, "c", {"status": "Failed", "exiResponse": ""}]


def test_a_service_url_that_is_not_http_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ocpp\.contract_service_url"):
        make_settings(tmp_path, ocpp={"contract_service_url": "ftp://127.0.0.1/ev"})
