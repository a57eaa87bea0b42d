"""The running cost told to the station while it charges and the total at the end (issue 22, item 2), as exact
frames over real loopback WebSockets: OCPP 1.6 DataTransfer RunningCost/FinalCost (the Open Charge Alliance's
California Pricing customization), OCPP 2.0.1 CostUpdated and TransactionEvent(Ended).totalCost, OCPP 2.1
also totalCost while Updated. The total equals the session's CDR to the cent; an unpriced session gets none."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.ocpp_client import SUBPROTOCOL, server_call_answer

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW_ISO = "2026-03-01T12:00:00Z"
TARIFF = {
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "FLAT", "price": 0.50, "vat": 21}]},
        {"price_components": [{"type": "ENERGY", "price": 0.30, "green_price": 0.15, "vat": 21}]},
    ],
}
COSTMSG = "org.openchargealliance.costmsg"


def at(minutes: int) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(
        tmp_path,
        cooperatives=[{"id": "coop-1", "members": [{"id": "m1"}]}],
        sites=[{"id": "site-a", "grid_limit_a": 32.0, "cooperative_id": "coop-1"}],
        billing={"running_cost_interval_s": 0.2},
    )
    async with running_platform(settings, clock=lambda: NOW) as running:
        api = f"{running.http_url}/api"
        async with aiohttp.ClientSession() as http:
            account = {"id": "anna", "kind": "member", "cooperative_id": "coop-1", "member_id": "m1"}
            for method, url, body in (
                ("POST", f"{api}/accounts", account),
                ("PUT", f"{api}/id-tags/CARD-ANNA", {"status": "Accepted", "account_id": "anna"}),
                ("PUT", f"{api}/tariffs/member", {"cooperative_id": "coop-1", "audience": "member", "tariff": TARIFF}),
            ):
                async with http.request(method, url, json=body) as response:
                    assert response.status == 201, await response.text()
        yield running


class Station:
    """A raw OCPP-J client that answers the central system's calls and keeps them."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.server_calls: list[list[Any]] = []

    async def _answer(self, frame: list[Any]) -> None:
        self.server_calls.append(frame)
        answer = {} if frame[2] == "CostUpdated" else server_call_answer(frame)
        await self.ws.send_str(json.dumps([3, frame[1], answer]))

    async def call(self, unique_id: str, action: str, payload: dict[str, Any]) -> list[Any]:
        await self.ws.send_str(json.dumps([2, unique_id, action, payload]))
        while True:
            frame = json.loads(await self.ws.receive_str(timeout=5))
            if frame[0] != 2:
                return list(frame)
            await self._answer(frame)

    async def server_call(self, wanted: Callable[[list[Any]], bool]) -> list[Any]:
        """The next call of the central system that is `wanted` (others answered on the way)."""
        while True:
            frame = json.loads(await self.ws.receive_str(timeout=5))
            assert frame[0] == 2, frame
            await self._answer(frame)
            if wanted(frame):
                return list(frame)

    def cost_calls(self) -> list[list[Any]]:
        return [f for f in self.server_calls if f[2] in ("CostUpdated", "DataTransfer")]


@asynccontextmanager
async def station(platform: Platform, charger: str, version: str) -> AsyncIterator[Station]:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/{charger}", protocols=(SUBPROTOCOL[version],)) as ws,
    ):
        yield Station(ws)


def costmsg(message_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"vendorId": COSTMSG, "messageId": message_id, "data": json.dumps(data, separators=(",", ":"))}


def running_cost_of(transaction_id: int, meter_wh: int) -> Callable[[list[Any]], bool]:
    def wanted(frame: list[Any]) -> bool:
        if frame[2] != "DataTransfer" or frame[3].get("messageId") != "RunningCost":
            return False
        data = json.loads(frame[3]["data"])
        return bool(data["transactionId"] == transaction_id and data["meterValue"] == meter_wh)

    return wanted


async def cdr_total(platform: Platform, account: str) -> list[dict[str, Any]]:
    await platform.energy.flush(final=True)  # the accounting closes the minutes: the CDR is issued
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{platform.http_url}/api/cdrs", params={"account": account}) as response,
    ):
        return [c["cdr"]["total_cost"] for c in await response.json()]


async def test_ocpp16_running_cost_while_charging_and_final_cost_after_stop(platform: Platform) -> None:
    async with station(platform, "CP-A", "1.6") as priced, station(platform, "CP-B", "1.6") as unpriced:
        boot = {"chargePointVendor": "V", "chargePointModel": "M"}
        assert (await priced.call("b", "BootNotification", boot))[2]["status"] == "Accepted"
        assert (await unpriced.call("b", "BootNotification", boot))[2]["status"] == "Accepted"
        start = {"connectorId": 1, "idTag": "CARD-ANNA", "meterStart": 1000, "timestamp": at(-30)}
        transaction_id = (await priced.call("s", "StartTransaction", start))[2]["transactionId"]
        guest = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": at(-30)}
        guest_id = (await unpriced.call("s", "StartTransaction", guest))[2]["transactionId"]
        meter = {"timestamp": at(-20), "sampledValue": [{"value": "4000", "measurand": "Energy.Active.Import.Register",
                                                         "unit": "Wh"}]}  # fmt: skip
        for client, tx in ((priced, transaction_id), (unpriced, guest_id)):
            sample = {"connectorId": 1, "transactionId": tx, "meterValue": [meter]}
            assert await client.call("m", "MeterValues", sample) == [3, "m", {}]

        # while charging: 3 kWh at 0.30 and the session fee 0.50, VAT 21 % (0.29): 1.69, at the prices incl. VAT
        running = await priced.server_call(running_cost_of(transaction_id, 4000))
        assert running[2:] == ["DataTransfer", costmsg("RunningCost", {
            "transactionId": transaction_id, "timestamp": NOW_ISO, "meterValue": 4000, "cost": 1.69,
            "state": "Charging", "chargingPrice": {"kWhPrice": 0.363, "flatFee": 0.605}})]  # fmt: skip
        await priced.server_call(running_cost_of(transaction_id, 4000))  # again, each interval

        stop = {"transactionId": transaction_id, "meterStop": 6000, "timestamp": at(-10)}
        assert await priced.call("t", "StopTransaction", stop) == [3, "t", {}]
        final = await priced.server_call(lambda f: f[2] == "DataTransfer" and f[3]["messageId"] == "FinalCost")
        # 5 kWh: 1.50 + 0.50, VAT 0.42
        assert final[2:] == ["DataTransfer", costmsg("FinalCost", {
            "transactionId": transaction_id, "cost": 2.42, "priceText": "2.42 EUR for 5 kWh"})]  # fmt: skip
        guest_stop = {"transactionId": guest_id, "meterStop": 3000, "timestamp": at(-10)}
        assert await unpriced.call("t", "StopTransaction", guest_stop) == [3, "t", {}]
        assert await unpriced.call("h", "Heartbeat", {}) == [3, "h", {"currentTime": NOW_ISO}]
        assert unpriced.cost_calls() == []  # a session without a tariff: no cost messages at all

        assert await cdr_total(platform, "anna") == [{"excl_vat": 2.0, "incl_vat": 2.42}]  # the FinalCost's
        finals_before = [f for f in priced.cost_calls() if f[3]["messageId"] == "FinalCost"]
        await asyncio.sleep(0.5)
        assert await priced.call("h", "Heartbeat", {}) == [3, "h", {"currentTime": NOW_ISO}]
        assert [f for f in priced.cost_calls() if f[3]["messageId"] == "FinalCost"] == finals_before == [final]
        assert not [f for f in priced.cost_calls()[priced.cost_calls().index(final) :] if f[3]["messageId"] ==
                    "RunningCost"]  # fmt: skip


def tx_event(event_type: str, seq_no: int, energy_wh: float, minutes: int, **extra: Any) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "timestamp": at(minutes),
        "triggerReason": {"Started": "Authorized", "Updated": "MeterValuePeriodic", "Ended": "EVDeparted"}[event_type],
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": extra.pop("transaction_id", "tx-1")},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [{"timestamp": at(minutes), "sampledValue": [
            {"value": energy_wh, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}}]}],
        **extra,
    }  # fmt: skip


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
async def test_ocpp2_cost_updated_while_charging_and_total_cost_when_ended(platform: Platform, version: str) -> None:
    boot = {"chargingStation": {"model": "M2", "vendorName": "V2"}, "reason": "PowerUp"}
    card = {"idToken": {"idToken": "CARD-ANNA", "type": "ISO14443"}}
    async with station(platform, "CP-A", version) as priced, station(platform, "CP-B", version) as unpriced:
        for client in (priced, unpriced):
            assert (await client.call("b", "BootNotification", boot))[2]["status"] == "Accepted"
        started = await priced.call("s", "TransactionEvent", tx_event("Started", 0, 1000, -30, **card))
        assert started == [3, "s", {"idTokenInfo": {"status": "Accepted"}}]
        guest = {"idToken": {"idToken": "TAG-OK", "type": "ISO14443"}, "transaction_id": "tx-guest"}
        assert (await unpriced.call("s", "TransactionEvent", tx_event("Started", 0, 0, -30, **guest)))[0] == 3
        updated = await priced.call("u", "TransactionEvent", tx_event("Updated", 1, 4000, -20))
        # 2.0.1 keeps totalCost for the end (its schema: "SHALL only be sent when charging has ended"); 2.1 also
        # answers an Updated event with the running cost
        assert updated == [3, "u", {} if version == "2.0.1" else {"totalCost": 1.69}]
        guest_update = tx_event("Updated", 1, 2000, -20, transaction_id="tx-guest")
        assert await unpriced.call("u", "TransactionEvent", guest_update) == [3, "u", {}]

        running = await priced.server_call(lambda f: f[2] == "CostUpdated" and f[3]["totalCost"] == 1.69)
        assert running[2:] == ["CostUpdated", {"totalCost": 1.69, "transactionId": "tx-1"}]

        ended = await priced.call("e", "TransactionEvent", tx_event("Ended", 2, 6000, -10))
        assert ended == [3, "e", {"totalCost": 2.42}]
        again = await priced.call("e2", "TransactionEvent", tx_event("Ended", 2, 6000, -10))
        assert again == [3, "e2", {"totalCost": 2.42}]  # resent: the same answer
        guest_end = tx_event("Ended", 2, 3000, -10, transaction_id="tx-guest")
        assert await unpriced.call("e", "TransactionEvent", guest_end) == [3, "e", {}]
        assert await unpriced.call("h", "Heartbeat", {}) == [3, "h", {"currentTime": NOW_ISO}]
        assert unpriced.cost_calls() == []

        assert await cdr_total(platform, "anna") == [{"excl_vat": 2.0, "incl_vat": 2.42}]  # the totalCost's
        told = len(priced.cost_calls())
        await asyncio.sleep(0.5)
        assert await priced.call("h", "Heartbeat", {}) == [3, "h", {"currentTime": NOW_ISO}]
        assert len(priced.cost_calls()) == told  # ended: no more running costs, and the total stood
