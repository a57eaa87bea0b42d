"""Reservations over real sockets, both versions: stored, sent with ReserveNow (exact frames), the reserved
connector refusing other tags, used up by the transaction that names it, expiring, cancelled from REST."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.test_registration import BOOT_16, BOOT_201, Raw, rest


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(tmp_path, id_tags=[{"id": "TAG-OK"}, {"id": "TAG-2"}])
    async with running_platform(settings) as running:
        yield running


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def start_16(id_tag: str, connector: int = 1, **extra: Any) -> dict[str, Any]:
    return {"connectorId": connector, "idTag": id_tag, "meterStart": 0, "timestamp": iso(datetime.now(UTC)), **extra}


async def reserve(
    http: aiohttp.ClientSession, platform: Platform, raw: Raw, body: dict[str, Any], charger: str = "CP-A"
) -> tuple[int, dict[str, Any]]:
    return await rest(http, raw, "post", f"{platform.http_url}/api/chargepoints/{charger}/reservations", body)


async def test_16_reservation_is_kept_for_its_tag_and_used_by_its_transaction(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)))
        assert (await raw.call("b", "BootNotification", BOOT_16))[2]["status"] == "Accepted"
        expiry = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
        status, view = await reserve(
            http, platform, raw, {"connector_id": 1, "id_tag": "TAG-OK", "expiry_date": iso(expiry)}
        )
        assert status == 201
        assert (view["status"], view["charger_status"]) == ("Active", "Accepted")
        sent = [c for c in raw.calls if c[2] == "ReserveNow"]
        assert sent[0][3] == {
            "connectorId": 1,
            "expiryDate": iso(expiry),
            "idTag": "TAG-OK",
            "reservationId": view["id"],
        }
        # another tag on the reserved connector is refused; on another connector it is not
        assert (await raw.call("s1", "StartTransaction", start_16("TAG-2")))[2]["idTagInfo"]["status"] == "Invalid"
        assert (await raw.call("s2", "StartTransaction", start_16("TAG-2", 2)))[2]["idTagInfo"]["status"] == "Accepted"
        # the reserved tag's transaction, naming the reservation, uses it up
        started = await raw.call("s3", "StartTransaction", start_16("TAG-OK", reservationId=view["id"]))
        assert started[2]["idTagInfo"]["status"] == "Accepted"
        async with http.get(f"{platform.http_url}/api/reservations/{view['id']}") as response:
            used = await response.json()
        assert (used["status"], used["transaction_id"]) == ("Used", started[2]["transactionId"])
        assert (await raw.call("s4", "StartTransaction", start_16("TAG-2")))[2]["idTagInfo"]["status"] == "Accepted"
        await raw.ws.close()


async def test_16_a_group_tag_may_use_it_and_a_refused_or_cancelled_one_holds_nothing(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.put(
            f"{platform.http_url}/api/id-tags/FLEET-1", json={"status": "Accepted", "group_id": "FLEET"}
        ):
            pass
        raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)))
        await raw.call("b", "BootNotification", BOOT_16)
        expiry = iso(datetime.now(UTC) + timedelta(hours=1))
        body = {"connector_id": 1, "id_tag": "TAG-OK", "parent_id_tag": "FLEET", "expiry_date": expiry}
        raw.answers["ReserveNow"] = {"status": "Occupied"}
        status, refused = await reserve(http, platform, raw, body)
        assert (status, refused["status"], refused["charger_status"]) == (201, "Refused", "Occupied")
        raw.answers["ReserveNow"] = {"status": "Accepted"}
        _, view = await reserve(http, platform, raw, body)
        assert [c[3].get("parentIdTag") for c in raw.calls if c[2] == "ReserveNow"] == ["FLEET", "FLEET"]
        status, cancelled = await rest(http, raw, "delete", f"{platform.http_url}/api/reservations/{view['id']}", {})
        assert (status, cancelled["status"]) == (200, "Cancelled")
        assert raw.calls[-1][2:] == ["CancelReservation", {"reservationId": view["id"]}]
        status, _ = await rest(http, raw, "delete", f"{platform.http_url}/api/reservations/{view['id']}", {})
        assert status == 409
        assert (await raw.call("s1", "StartTransaction", start_16("TAG-2")))[2]["idTagInfo"]["status"] == "Accepted"
        _, group = await reserve(http, platform, raw, body)
        started = await raw.call("s2", "StartTransaction", start_16("FLEET-1"))  # of the group, without the id
        assert started[2]["idTagInfo"]["status"] == "Accepted"
        async with http.get(f"{platform.http_url}/api/reservations?chargepoint=CP-A&active=true") as response:
            assert await response.json() == []
        async with http.get(f"{platform.http_url}/api/reservations/{group['id']}") as response:
            assert (await response.json())["status"] == "Used"
        await raw.ws.close()


async def test_an_expired_reservation_holds_nothing(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)))
        await raw.call("b", "BootNotification", BOOT_16)
        expiry = iso(datetime.now(UTC) + timedelta(seconds=1))
        _, view = await reserve(http, platform, raw, {"connector_id": 1, "id_tag": "TAG-OK", "expiry_date": expiry})
        assert view["status"] == "Active"
        await asyncio.sleep(1.1)
        async with http.get(f"{platform.http_url}/api/reservations/{view['id']}") as response:
            assert (await response.json())["status"] == "Expired"
        assert (await raw.call("s1", "StartTransaction", start_16("TAG-2")))[2]["idTagInfo"]["status"] == "Accepted"
        past = iso(datetime.now(UTC) - timedelta(minutes=1))
        status, body = await reserve(http, platform, raw, {"connector_id": 1, "id_tag": "TAG-OK", "expiry_date": past})
        assert status == 422
        assert "expiry_date" in body["error"]["message"]
        await raw.ws.close()


def tx_event(event_type: str, seq_no: int, id_token: str | None, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": iso(datetime.now(UTC)),
        "triggerReason": "Authorized",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": f"tx-{id_token}-{seq_no}"},
        "evse": {"id": 1, "connectorId": 1},
        **extra,
    }
    if id_token:
        payload["idToken"] = {"idToken": id_token, "type": "ISO14443"}
    return payload


async def test_201_reservation_frames_refusal_use_and_station_expiry(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        raw = Raw(await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp2.0.1",)))
        assert (await raw.call("b", "BootNotification", BOOT_201))[2]["status"] == "Accepted"
        expiry = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
        body = {"connector_id": 1, "id_tag": "TAG-OK", "expiry_date": iso(expiry), "id_token_type": "ISO14443"}
        status, view = await reserve(http, platform, raw, body)
        assert (status, view["status"]) == (201, "Active")
        sent = [c for c in raw.calls if c[2] == "ReserveNow"][0][3]
        assert sent == {
            "id": view["id"],
            "expiryDateTime": iso(expiry),
            "idToken": {"idToken": "TAG-OK", "type": "ISO14443"},
            "evseId": 1,
        }
        refused = await raw.call("t1", "TransactionEvent", tx_event("Started", 0, "TAG-2"))
        assert refused[2]["idTokenInfo"]["status"] == "Invalid"
        resent = await raw.call("t1b", "TransactionEvent", tx_event("Started", 0, "TAG-2"))
        assert resent[2] == refused[2]  # a resent event gets the same answer
        used = await raw.call("t2", "TransactionEvent", tx_event("Started", 0, "TAG-OK", reservationId=view["id"]))
        assert used[2]["idTokenInfo"]["status"] == "Accepted"
        async with http.get(f"{platform.http_url}/api/reservations/{view['id']}") as response:
            assert (await response.json())["status"] == "Used"
        _, second = await reserve(http, platform, raw, body)
        update = {"reservationId": second["id"], "reservationUpdateStatus": "Expired"}
        assert (await raw.call("u", "ReservationStatusUpdate", update))[:3] == [3, "u", {}]
        async with http.get(f"{platform.http_url}/api/reservations/{second['id']}") as response:
            assert (await response.json())["status"] == "Expired"
        await raw.ws.close()
