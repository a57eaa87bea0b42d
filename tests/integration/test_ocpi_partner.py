"""OCPI 2.2.1, CPO role, against an eMSP test double over real HTTP on loopback (issue 22, items 4-5):
the token A/B/C handshake, locations pulled, tokens pushed and pulled, START_SESSION reaching an OCPP 1.6
charger, the session pushed while it charges, STOP_SESSION, the CDR received; the partner's timeouts, 5xx
and OCPI errors retried with backoff, nothing lost; bad tokens refused; unregistration."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.platform import Platform
from tests.fixtures.emsp import COUNTRY, PARTY, Emsp, a_token, serve_emsp, token_header
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.ocpp_client import Client, connected, server_call_answer

pytestmark = pytest.mark.integration

PLACE = {
    "site_id": "site-a",
    "name": "Coop car park",
    "address": "Dorpsstraat 1",
    "city": "Zon",
    "country": "NLD",
    "latitude": 52.1,
    "longitude": 5.2,
    "time_zone": "Europe/Amsterdam",
}
TARIFF = {
    "audience": "all",
    "tariff": {
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": 0.40, "green_price": 0.20, "vat": 21}]}],
    },
}


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    ocpi = {
        "enabled": True,
        "request_timeout_s": 0.5,
        "push_retry_initial_s": 0.1,
        "push_retry_max_s": 0.4,
        "session_push_s": 0.05,
        "places": [PLACE],
    }
    async with running_platform(make_settings(tmp_path, ocpi=ocpi)) as running:
        yield running


@pytest.fixture
async def emsp() -> AsyncIterator[Emsp]:
    async with serve_emsp() as double:
        yield double


async def rest(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with http.request(method, url, json=body) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None


async def register(platform: Platform, emsp: Emsp, http: aiohttp.ClientSession) -> str:
    """The handshake as the eMSP runs it; token A."""
    status, created = await rest(http, "POST", f"{platform.http_url}/api/ocpi/partners", {"id": "emsp", "name": "E"})
    assert status == 201, created
    token_a = created["token_a"]
    assert created["our_versions_url"] == f"{platform.http_url}/ocpi/versions"
    status, _, versions = await emsp.call(http, "GET", created["our_versions_url"], token=token_a)
    assert status == 200
    assert versions["data"] == [{"version": "2.2.1", "url": f"{platform.http_url}/ocpi/2.2.1"}]
    status, _, details = await emsp.call(http, "GET", versions["data"][0]["url"], token=token_a)
    modules = {(e["identifier"], e["role"]): e["url"] for e in details["data"]["endpoints"]}
    assert ("commands", "RECEIVER") in modules
    assert ("locations", "SENDER") in modules
    status, headers, answer = await emsp.call(
        http, "POST", modules["credentials", "RECEIVER"], emsp.credentials(), token=token_a
    )
    assert (status, answer["status_code"]) == (200, 1000), answer
    assert (headers["X-Request-ID"], headers["X-Correlation-ID"]) == ("req-1", "corr-1")
    ours = answer["data"]
    assert ours["roles"][0] == {
        "role": "CPO",
        "country_code": "NL",
        "party_id": "CGR",
        "business_details": {"name": "CoopGrid"},
    }
    assert ours["token"] != token_a
    emsp.cpo_token = ours["token"]
    return str(token_a)


async def answer_calls_until(client: Client, action: str, answer: dict[str, Any] | None = None) -> list[Any]:
    """Answer the central system's calls until one of `action` has come (answered with `answer`); that call."""
    while True:
        found = [f for f in client.server_calls if f[2] == action]
        if found:
            return found[-1]
        message = await client.ws.receive(timeout=10.0)
        frame = json.loads(message.data)
        if frame[0] == 2:
            client.server_calls.append(frame)
            reply = answer if answer is not None and frame[2] == action else server_call_answer(frame)
            await client.ws.send_str(json.dumps([3, frame[1], reply]))


async def test_an_emsp_registers_pulls_locations_starts_and_stops_a_session_and_receives_the_cdr(
    platform: Platform, emsp: Emsp
) -> None:
    ocpi = f"{platform.http_url}/ocpi/2.2.1"
    emsp.tokens = [
        a_token("PULLED-1"),
        a_token("PULLED-2"),
        a_token("PULLED-3", valid=False),
        a_token("LIVE-1", whitelist="NEVER"),
    ]
    async with aiohttp.ClientSession() as http:
        assert (await rest(http, "PUT", f"{platform.http_url}/api/tariffs/roaming", TARIFF))[0] == 201
        token_a = await register(platform, emsp, http)
        # token A is spent; a token nobody issued is refused
        assert (await emsp.call(http, "GET", f"{ocpi}/locations", token=token_a))[0] == 401
        assert (await emsp.call(http, "GET", f"{ocpi}/locations", token="not-a-token"))[0] == 401
        assert (await emsp.call(http, "POST", f"{ocpi}/credentials", emsp.credentials()))[0] == 405

        # the partner's tokens were pulled page by page after registration (three, two a page)
        async def pulled() -> bool:
            tag = (await rest(http, "GET", f"{platform.http_url}/api/id-tags/LIVE-1"))[1]  # the last page's
            return bool(tag and tag.get("status") == "Invalid")

        for _ in range(100):
            if await pulled():
                break
            await asyncio.sleep(0.05)
        assert (await rest(http, "GET", f"{platform.http_url}/api/id-tags/PULLED-1"))[1]["status"] == "Accepted"
        assert (await rest(http, "GET", f"{platform.http_url}/api/id-tags/PULLED-3"))[1]["status"] == "Blocked"

        # locations, paged
        status, headers, page = await emsp.call(http, "GET", f"{ocpi}/locations?limit=1")
        assert status == 200
        assert (headers["X-Total-Count"], headers["X-Limit"]) == ("1", "1")
        location = page["data"][0]
        assert (location["id"], location["country_code"], location["city"], location["country"]) == (
            "site-a",
            "NL",
            "Zon",
            "NLD",
        )
        assert [e["uid"] for e in location["evses"]] == ["CP-A", "CP-B"]
        assert location["evses"][0]["status"] == "UNKNOWN"  # not connected
        assert location["evses"][0]["connectors"][0]["tariff_ids"] == ["roaming"]
        status, _, missing = await emsp.call(http, "GET", f"{ocpi}/locations/nowhere")
        assert (status, missing["status_code"]) == (404, 2003)
        _, _, tariffs = await emsp.call(http, "GET", f"{ocpi}/tariffs")
        assert "green_price" not in json.dumps(tariffs["data"])

        # a token pushed by the eMSP
        token_url = f"{ocpi}/tokens/{COUNTRY}/{PARTY}/CARD-7?type=RFID"
        status, _, put = await emsp.call(http, "PUT", token_url, a_token("CARD-7"))
        assert (status, put["status_code"]) == (200, 1000), put
        assert (await emsp.call(http, "GET", token_url))[2]["data"]["contract_id"] == "DE-EMS-CARD-7"
        card = (await rest(http, "GET", f"{platform.http_url}/api/id-tags/CARD-7"))[1]
        assert (card["status"], card["type"]) == ("Accepted", "ISO14443")  # what 2.0.1 local lists send
        ours = f"{ocpi}/tokens/{COUNTRY}/{PARTY}/TAG-BLOCKED"  # a partner's token cannot unblock our own tag
        for _ in range(2):
            assert (await emsp.call(http, "PUT", ours, a_token("TAG-BLOCKED")))[0] == 200
        assert (await rest(http, "GET", f"{platform.http_url}/api/id-tags/TAG-BLOCKED"))[1]["status"] == "Blocked"
        bad = {**a_token("CARD-7"), "whitelist": "SOMETIMES"}
        status, _, refused = await emsp.call(http, "PUT", token_url, bad)
        assert (status, refused["status_code"]) == (400, 2001)
        assert "whitelist" in refused["status_message"]
        other_party = f"{ocpi}/tokens/NL/XXX/CARD-7"
        assert (await emsp.call(http, "PUT", other_party, {**a_token("CARD-7"), "party_id": "XXX"}))[0] == 403

        async with connected(platform, "CP-A", "1.6") as charger:
            await charger.call("b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
            await charger.call(
                "s0", "StatusNotification", {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
            )
            # real-time authorization: a token whitelisted NEVER is asked for at the eMSP; others are not
            assert (await rest(http, "GET", f"{platform.http_url}/api/id-tags/LIVE-1"))[1]["status"] == "Invalid"
            live = await charger.call("a1", "Authorize", {"idTag": "LIVE-1"})
            assert (live[2]["idTagInfo"]["status"], emsp.authorized) == ("Accepted", ["LIVE-1"])
            assert (await charger.call("a2", "Authorize", {"idTag": "PULLED-3"}))[2]["idTagInfo"]["status"] == "Blocked"
            assert (await charger.call("a3", "Authorize", {"idTag": "NOBODY"}))[2]["idTagInfo"]["status"] == "Invalid"
            assert emsp.authorized == ["LIVE-1"]
            evse_path = "/ocpi/emsp/2.2.1/locations/NL/CGR/site-a/CP-A"
            await emsp.wait_for(
                lambda: any(
                    r.path == evse_path and r.body["status"] == "AVAILABLE" for r in emsp.pushes("locations", "PATCH")
                )
            )

            # the partner fails the next calls: a 503, a timeout, an OCPI error, a 500
            emsp.faults = [503, "timeout", "ocpi-error", 500]
            start = {
                "response_url": f"{emsp.root}/commands/START_SESSION/1",
                "token": a_token("APP-1"),
                "location_id": "site-a",
                "evse_uid": "CP-A",
                "connector_id": "1",
            }
            status, _, response = await emsp.call(http, "POST", f"{ocpi}/commands/START_SESSION", start)
            assert response["data"]["result"] == "ACCEPTED", response
            remote = await answer_calls_until(charger, "RemoteStartTransaction")
            assert remote[3] == {"connectorId": 1, "idTag": "APP-1"}
            t0 = datetime.now(UTC).replace(microsecond=0)
            started = await charger.call(
                "st",
                "StartTransaction",
                {"connectorId": 1, "idTag": "APP-1", "meterStart": 1000, "timestamp": t0.isoformat()},
            )
            assert started[2]["idTagInfo"]["status"] == "Accepted"
            transaction_id = started[2]["transactionId"]
            await charger.call(
                "s1", "StatusNotification", {"connectorId": 1, "status": "Charging", "errorCode": "NoError"}
            )
            await emsp.wait_for(lambda: emsp.pushes("commands"))
            assert emsp.pushes("commands")[0].body == {"result": "ACCEPTED"}
            session_path = f"/ocpi/emsp/2.2.1/sessions/NL/CGR/{transaction_id}"
            put_session = (await emsp.wait_for(lambda: emsp.pushes("sessions", "PUT")))[0]
            assert put_session.path == session_path
            body = put_session.body
            assert (body["status"], body["auth_method"], body["location_id"], body["evse_uid"]) == (
                "ACTIVE",
                "COMMAND",
                "site-a",
                "CP-A",
            )
            assert body["cdr_token"] == {
                "country_code": "DE",
                "party_id": "EMS",
                "uid": "APP-1",
                "type": "RFID",
                "contract_id": "DE-EMS-APP-1",
            }

            meter = {
                "connectorId": 1,
                "transactionId": transaction_id,
                "meterValue": [
                    {
                        "timestamp": (t0 + timedelta(minutes=5)).isoformat(),
                        "sampledValue": [{"value": "3500", "unit": "Wh", "measurand": "Energy.Active.Import.Register"}],
                    }
                ],
            }
            await asyncio.sleep(0.1)
            assert (await charger.call("m", "MeterValues", meter))[0] == 3
            charging = await emsp.wait_for(
                lambda: [p.body for p in emsp.pushes("sessions", "PATCH") if p.body.get("kwh") == 2.5]
            )
            assert (charging[0]["total_cost"], charging[0]["currency"]) == ({"excl_vat": 1.0, "incl_vat": 1.21}, "EUR")

            # STOP_SESSION: RemoteStopTransaction at the charger, which stops
            stop = {"response_url": f"{emsp.root}/commands/STOP_SESSION/2", "session_id": str(transaction_id)}
            _, _, response = await emsp.call(http, "POST", f"{ocpi}/commands/STOP_SESSION", stop)
            assert response["data"]["result"] == "ACCEPTED"
            assert (await answer_calls_until(charger, "RemoteStopTransaction"))[3] == {"transactionId": transaction_id}
            unknown = {**stop, "session_id": "999999"}
            assert (await emsp.call(http, "POST", f"{ocpi}/commands/STOP_SESSION", unknown))[2]["data"]["result"] == (
                "UNKNOWN_SESSION"
            )
            stopped = {
                "transactionId": transaction_id,
                "meterStop": 6000,
                "timestamp": (t0 + timedelta(minutes=20)).isoformat(),
            }
            assert (await charger.call("sp", "StopTransaction", stopped))[0] == 3

        await emsp.wait_for(lambda: any(p.body.get("status") == "COMPLETED" for p in emsp.pushes("sessions", "PATCH")))
        await platform.energy.flush(final=True)
        cdr = (await emsp.wait_for(lambda: emsp.pushes("cdrs", "POST")))[0].body
        assert (cdr["session_id"], cdr["total_energy"], cdr["currency"]) == (str(transaction_id), 5.0, "EUR")
        assert cdr["total_cost"] == {"excl_vat": 2.0, "incl_vat": 2.42}  # 5 kWh of grid energy at 0.40, VAT 21 %
        assert cdr["cdr_token"]["uid"] == "APP-1"
        assert cdr["auth_method"] == "COMMAND"
        assert (cdr["cdr_location"]["city"], cdr["cdr_location"]["evse_uid"]) == ("Zon", "CP-A")
        assert "green_price" not in json.dumps(cdr["tariffs"])
        # the same CDR and session, pulled
        _, _, pulled_cdrs = await emsp.call(http, "GET", f"{ocpi}/cdrs")
        assert [c["id"] for c in pulled_cdrs["data"]] == [cdr["id"]]
        _, _, sessions = await emsp.call(http, "GET", f"{ocpi}/sessions")
        assert [(s["id"], s["status"], s["kwh"]) for s in sessions["data"]] == [(str(transaction_id), "COMPLETED", 5.0)]

        # every fault was met and retried; nothing is left queued, and the session's pushes came in order
        assert emsp.failed == [503, "timeout", "ocpi-error", 500]
        _, partner = await rest(http, "GET", f"{platform.http_url}/api/ocpi/partners/emsp")
        assert (partner["state"], partner["queued"]) == ("registered", 0)
        methods = [r.method for r in emsp.pushes("sessions")]
        assert methods[0] == "PUT"
        assert set(methods[1:]) == {"PATCH"}
        assert emsp.pushes("sessions")[-1].body["status"] == "COMPLETED"
        assert emsp.pushes("sessions")[-1].body["total_cost"] == cdr["total_cost"]  # the session and its CDR agree
        assert all(r.authorization == token_header(emsp.token_b) for r in emsp.received)


async def test_pushes_wait_while_the_partner_refuses_its_token_and_unregistration_ends_them(
    platform: Platform, emsp: Emsp
) -> None:
    ocpi = f"{platform.http_url}/ocpi/2.2.1"
    async with aiohttp.ClientSession() as http:
        await register(platform, emsp, http)
        real_token, emsp.token_b = emsp.token_b, "the-partner-rotated-it"  # our token B is now refused: 401
        async with connected(platform, "CP-B", "1.6") as charger:
            await charger.call("b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
            await charger.call(
                "s0", "StatusNotification", {"connectorId": 1, "status": "Faulted", "errorCode": "GroundFailure"}
            )

            async def queued() -> dict[str, Any]:
                return (await rest(http, "GET", f"{platform.http_url}/api/ocpi/partners/emsp"))[1]

            for _ in range(100):
                partner = await queued()
                if partner["queued"] and partner["last_error"]:
                    break
                await asyncio.sleep(0.1)
            assert "HTTP 401" in partner["last_error"]
            assert emsp.received == []
            emsp.token_b = real_token  # the partner takes it again: what was queued arrives
            await emsp.wait_for(lambda: any(p.body["status"] == "OUTOFORDER" for p in emsp.pushes("locations")))

            # UNLOCK_CONNECTOR and RESERVE_NOW, and commands for EVSEs that are not there
            where = {"location_id": "site-a", "evse_uid": "CP-B", "connector_id": "1"}
            unlock = {"response_url": f"{emsp.root}/commands/UNLOCK_CONNECTOR/3", **where}
            answer = (await emsp.call(http, "POST", f"{ocpi}/commands/UNLOCK_CONNECTOR", unlock))[2]
            assert answer["data"]["result"] == "ACCEPTED"
            call = await answer_calls_until(charger, "UnlockConnector", {"status": "Unlocked"})
            assert call[3] == {"connectorId": 1}
            expiry = (datetime.now(UTC) + timedelta(minutes=15)).isoformat().replace("+00:00", "Z")
            reserve = {
                "response_url": f"{emsp.root}/commands/RESERVE_NOW/4",
                "token": a_token("APP-2"),
                "expiry_date": expiry,
                "reservation_id": "r-1",
                **where,
            }
            assert (await emsp.call(http, "POST", f"{ocpi}/commands/RESERVE_NOW", reserve))[2]["data"]["result"] == (
                "ACCEPTED"
            )
            call = await answer_calls_until(charger, "ReserveNow", {"status": "Occupied"})
            assert (call[3]["connectorId"], call[3]["idTag"]) == (1, "APP-2")
            results = await emsp.wait_for(lambda: len(emsp.pushes("commands")) >= 2 and emsp.pushes("commands"))
            assert {r.path.split("/")[-2]: r.body["result"] for r in results} == {
                "UNLOCK_CONNECTOR": "ACCEPTED",
                "RESERVE_NOW": "EVSE_OCCUPIED",
            }
            elsewhere = {**unlock, "evse_uid": "CP-NOWHERE"}
            assert (await emsp.call(http, "POST", f"{ocpi}/commands/UNLOCK_CONNECTOR", elsewhere))[2]["data"][
                "result"
            ] == "REJECTED"
            status, _, unknown = await emsp.call(
                http, "POST", f"{ocpi}/commands/UNLOCK_CONNECTOR", {**unlock, "location_id": "nowhere"}
            )
            assert (status, unknown["status_code"]) == (404, 2003)
            status, _, bad = await emsp.call(http, "POST", f"{ocpi}/commands/UNLOCK_CONNECTOR", {"location_id": 1})
            assert (status, bad["status_code"]) == (400, 2001)
        # the charger goes away: its EVSE is UNKNOWN to the partner
        await emsp.wait_for(lambda: emsp.pushes("locations", "PATCH")[-1].body["status"] == "UNKNOWN")

        # a PUT of credentials issues a new token C; the old one stops working
        old = emsp.cpo_token
        _, _, answer = await emsp.call(http, "PUT", f"{ocpi}/credentials", emsp.credentials())
        assert answer["status_code"] == 1000
        emsp.cpo_token = answer["data"]["token"]
        assert emsp.cpo_token != old
        assert (await emsp.call(http, "GET", f"{ocpi}/credentials", token=old))[0] == 401
        assert (await emsp.call(http, "GET", f"{ocpi}/credentials"))[2]["data"]["token"] == emsp.cpo_token
        # registration fails cleanly when the partner's versions cannot be read
        assert (await emsp.call(http, "PUT", f"{ocpi}/credentials", {**emsp.credentials(), "token": "wrong"}))[2][
            "status_code"
        ] == 3001
        # unregistration: the token stops working
        assert (await emsp.call(http, "DELETE", f"{ocpi}/credentials"))[2]["status_code"] == 1000
        assert (await emsp.call(http, "GET", f"{ocpi}/locations"))[0] == 401
        assert (await rest(http, "GET", f"{platform.http_url}/api/ocpi/partners/emsp"))[1]["state"] == "unregistered"


async def test_what_a_partner_did_not_acknowledge_is_sent_after_a_restart(tmp_path: Path, emsp: Emsp) -> None:
    ocpi = {"enabled": True, "request_timeout_s": 0.5, "push_retry_initial_s": 0.1, "push_retry_max_s": 0.2}
    settings = make_settings(tmp_path, ocpi=ocpi)
    async with aiohttp.ClientSession() as http:
        async with running_platform(settings) as platform:
            await register(platform, emsp, http)
            token_url = f"{platform.http_url}/ocpi/2.2.1/tokens/{COUNTRY}/{PARTY}/CARD-9"
            assert (await emsp.call(http, "PUT", token_url, a_token("CARD-9")))[0] == 200
            emsp.faults = [500] * 10_000  # the partner is down
            async with connected(platform, "CP-A", "1.6") as charger:
                await charger.call("b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
                t0 = datetime.now(UTC).replace(microsecond=0).isoformat()
                start = {"connectorId": 2, "idTag": "CARD-9", "meterStart": 0, "timestamp": t0}
                transaction_id = (await charger.call("st", "StartTransaction", start))[2]["transactionId"]
                status = {"connectorId": 1, "status": "Unavailable", "errorCode": "NoError"}
                await charger.call("s", "StatusNotification", status)
            partners = f"{platform.http_url}/api/ocpi/partners/emsp"
            for _ in range(100):
                if (await rest(http, "GET", partners))[1]["queued"] >= 2:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # the disconnection's push too
            queued = (await rest(http, "GET", partners))[1]["queued"]
            assert queued >= 2
        assert emsp.received == []
        emsp.faults = []  # the partner is back; so is the platform, from the same database
        async with running_platform(settings) as platform:
            partners = f"{platform.http_url}/api/ocpi/partners/emsp"
            for _ in range(200):
                if (await rest(http, "GET", partners))[1]["queued"] == 0:
                    break
                await asyncio.sleep(0.05)
            assert len(emsp.received) == queued  # all of it, once
            assert [p.body["status"] for p in emsp.pushes("locations")][-2:] == ["INOPERATIVE", "UNKNOWN"]  # in order
            assert emsp.pushes("sessions", "PUT")[0].path.endswith(f"/{transaction_id}")
            # the session runs on: a process that did not see it start still pushes its energy
            async with connected(platform, "CP-A", "1.6") as charger:
                meter = {
                    "connectorId": 2,
                    "transactionId": transaction_id,
                    "meterValue": [
                        {
                            "timestamp": t0,
                            "sampledValue": [{"value": "1200", "measurand": "Energy.Active.Import.Register"}],
                        }
                    ],
                }
                await charger.call("m", "MeterValues", meter)
                await emsp.wait_for(lambda: any(p.body.get("kwh") == 1.2 for p in emsp.pushes("sessions", "PATCH")))


async def test_start_and_stop_session_by_command_on_an_ocpp_201_station(platform: Platform, emsp: Emsp) -> None:
    ocpi = f"{platform.http_url}/ocpi/2.2.1"
    boot = {"chargingStation": {"model": "M2", "vendorName": "V2"}, "reason": "PowerUp"}
    async with aiohttp.ClientSession() as http:
        await register(platform, emsp, http)
        async with connected(platform, "CP-B", "2.0.1") as station:
            await station.call("b", "BootNotification", boot)
            start = {
                "response_url": f"{emsp.root}/commands/START_SESSION/9",
                "token": a_token("APP-9"),
                "location_id": "site-a",
                "evse_uid": "CP-B",
            }
            assert (await emsp.call(http, "POST", f"{ocpi}/commands/START_SESSION", start))[2]["data"]["result"] == (
                "ACCEPTED"
            )
            request = (await answer_calls_until(station, "RequestStartTransaction"))[3]
            assert (request["idToken"], request["evseId"]) == ({"idToken": "APP-9", "type": "ISO14443"}, 1)
            now = datetime.now(UTC).replace(microsecond=0)

            def event(kind: str, seq_no: int, trigger: str, **extra: Any) -> dict[str, Any]:
                return {
                    "eventType": kind,
                    "timestamp": (now + timedelta(minutes=seq_no)).isoformat(),
                    "triggerReason": trigger,
                    "seqNo": seq_no,
                    "transactionInfo": {"transactionId": "tx-r-1"},
                    "evse": {"id": 1, "connectorId": 1},
                    **extra,
                }

            started = event(
                "Started",
                0,
                "RemoteStart",
                idToken={"idToken": "APP-9", "type": "ISO14443"},
                transactionInfo={"transactionId": "tx-r-1", "remoteStartId": request["remoteStartId"]},
            )
            answer = await station.call("t0", "TransactionEvent", started)
            assert answer[0] == 3, answer
            assert answer[2]["idTokenInfo"]["status"] == "Accepted", answer
            session = (await emsp.wait_for(lambda: emsp.pushes("sessions", "PUT")))[0]
            assert session.path.endswith("/sessions/NL/CGR/tx-r-1")
            assert (session.body["evse_uid"], session.body["auth_method"]) == ("CP-B", "COMMAND")

            stop = {"response_url": f"{emsp.root}/commands/STOP_SESSION/10", "session_id": "tx-r-1"}
            assert (await emsp.call(http, "POST", f"{ocpi}/commands/STOP_SESSION", stop))[2]["data"]["result"] == (
                "ACCEPTED"
            )
            assert (await answer_calls_until(station, "RequestStopTransaction"))[3] == {"transactionId": "tx-r-1"}
            ended = event(
                "Ended", 1, "RemoteStop", transactionInfo={"transactionId": "tx-r-1", "stoppedReason": "Remote"}
            )
            assert (await station.call("t1", "TransactionEvent", ended))[0] == 3
        await emsp.wait_for(lambda: any(p.body.get("status") == "COMPLETED" for p in emsp.pushes("sessions", "PATCH")))
        results = await emsp.wait_for(lambda: len(emsp.pushes("commands")) >= 2 and emsp.pushes("commands"))
        assert [r.body["result"] for r in results] == ["ACCEPTED", "ACCEPTED"]
