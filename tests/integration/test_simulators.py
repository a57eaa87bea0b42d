"""The simulators on their own: against a plain independent central system, against CoopGrid, and each fault.

The plain server (tests/fixtures/plain_csms.py) shares no code with CoopGrid's
central system, so what the simulated chargers send is checked against the
protocol rather than against our own server's habits.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest

from simulators.ev import EVArrival
from simulators.faults import Faults
from simulators.pytest_plugin import RunningFleet
from tests.fixtures.plain_csms import plain_csms
from tests.fixtures.platform import make_settings, running_platform

pytestmark = pytest.mark.integration

Fleet = Callable[..., AbstractAsyncContextManager[RunningFleet]]
EV_NOW = [EVArrival(0.0, battery_wh=60_000.0, soc=0.2, target_soc=0.9, max_power_w=11_000.0, stay_s=3 * 3600.0)]


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_ev(_: int) -> list[EVArrival]:
    return list(EV_NOW)


def registers(meter_values: list[dict[str, Any]]) -> list[float]:
    return [
        float(sample["value"])
        for message in meter_values
        for value in message["meterValue"]
        for sample in value["sampledValue"]
        if sample.get("measurand") == "Energy.Active.Import.Register"
    ]


async def test_a_full_transaction_against_a_plain_independent_server(charger_fleet: Fleet) -> None:
    async with plain_csms() as csms, charger_fleet(csms.url, 1, speed=600, plan=one_ev) as fleet:
        await fleet.wait_charging()
        charger = fleet.chargers[0]
        await fleet.wait_for(lambda: len(csms.calls(charger.id, "MeterValues")) >= 3, 20, "three meter values")
        assert csms.actions(charger.id)[:2] == ["BootNotification", "StatusNotification"]
        assert csms.subprotocols[charger.id] == ["ocpp1.6"]
        start = csms.calls(charger.id, "StartTransaction")[0]
        assert start["idTag"] == charger.id_tag
        assert start["meterStart"] == 0
        values = registers(csms.calls(charger.id, "MeterValues"))
        assert values == sorted(values)
        assert values[-1] > 0
        # Clock-aligned: every sample lands on a whole simulated minute.
        stamps = [m["meterValue"][0]["timestamp"] for m in csms.calls(charger.id, "MeterValues")]
        assert all(stamp[17:19] in ("00", "01") for stamp in stamps), stamps
        # A remote stop ends it: StopTransaction carries the last register.
        answer, _ = await csms.call(charger.id, "RemoteStopTransaction", {"transactionId": 1})
        assert answer == {"status": "Accepted"}
        await fleet.wait_for(lambda: bool(csms.calls(charger.id, "StopTransaction")), 20, "StopTransaction")
        stop = csms.calls(charger.id, "StopTransaction")[0]
        assert stop["transactionId"] == 1
        assert stop["meterStop"] >= values[-1]


async def test_profiles_from_the_server_limit_what_the_ev_draws(charger_fleet: Fleet) -> None:
    async with plain_csms() as csms, charger_fleet(csms.url, 1, speed=60, plan=one_ev) as fleet:
        await fleet.wait_charging()
        charger = fleet.chargers[0]
        profile = {
            "chargingProfileId": 5,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "transactionId": 1,
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 5520}],
            },
        }
        answer, _ = await csms.call(charger.id, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile})
        assert answer == {"status": "Accepted"}
        await fleet.wait_for(lambda: abs(charger.drawn_current_a() - 8.0) < 0.01, 5, "8 A drawn")
        answer, _ = await csms.call(charger.id, "ClearChargingProfile", {"id": 5})
        assert answer == {"status": "Accepted"}
        await fleet.wait_for(lambda: charger.drawn_current_a() > 15.0, 5, "full current again")


async def test_offline_the_charger_keeps_charging_and_replays_in_order(charger_fleet: Fleet) -> None:
    async with plain_csms() as csms, charger_fleet(csms.url, 1, speed=600, plan=one_ev) as fleet:
        await fleet.wait_charging()
        charger = fleet.chargers[0]
        await fleet.wait_for(lambda: len(csms.calls(charger.id, "MeterValues")) >= 1, 20, "a meter value")
        online_before = len(csms.calls(charger.id, "MeterValues"))
        csms.refuse_for(2.5)  # 25 simulated minutes offline
        await fleet.wait_for(lambda: not charger.connected, 5, "the charger offline")
        energy_offline = charger.energy_wh
        await asyncio.sleep(2.0)
        assert charger.energy_wh > energy_offline + 1000  # still charging while offline
        await fleet.wait_connected(within_s=20)
        await fleet.wait_for(lambda: not charger._outbox, 10, "the outbox replayed")  # noqa: SLF001
        meter_values = csms.calls(charger.id, "MeterValues")
        assert len(meter_values) >= online_before + 20  # each offline minute replayed
        stamps = [m["meterValue"][0]["timestamp"] for m in meter_values]
        assert stamps == sorted(stamps)
        values = registers(meter_values)
        assert values == sorted(values)
        assert charger.connections >= 2


async def test_faults_drops_duplicates_and_slow_answers(charger_fleet: Fleet) -> None:
    faults = Faults(drop_every_s=1.0, answer_delay_s=0.8, duplicate_rate=1.0)
    async with plain_csms() as csms, charger_fleet(csms.url, 1, speed=300, plan=one_ev, faults=faults) as fleet:
        await fleet.wait_charging()
        charger = fleet.chargers[0]
        await fleet.wait_for(lambda: charger.drops >= 2 and charger.connections >= 3, 20, "two drops")
        await fleet.wait_connected()
        # Every transaction message went twice, under distinct message ids.
        starts = [f for f in csms.frames[charger.id] if f[0] == 2 and f[2] == "StartTransaction"]
        assert len(starts) == 2
        assert starts[0][1] != starts[1][1]
        assert starts[0][3] == starts[1][3]
        # every meter value sent arrived (once the one on its way, if any, is in)
        await fleet.wait_for(lambda: charger.sent["MeterValues"] == len(csms.calls(charger.id, "MeterValues")), 5)
        meters = csms.calls(charger.id, "MeterValues")
        assert len(meters) >= 2
        # Meter values sent online went twice under distinct message ids; those replayed from the
        # offline outbox, and one whose duplicate a drop cut off, once.
        frames = [f for f in csms.frames[charger.id] if f[0] == 2 and f[2] == "MeterValues"]
        ids: dict[str, set[str]] = {}
        for frame in frames:
            ids.setdefault(json.dumps(frame[3], sort_keys=True), set()).add(frame[1])
        assert sum(1 for message_ids in ids.values() if len(message_ids) == 2) >= 2
        assert all(len(message_ids) <= 3 for message_ids in ids.values())
        answer, took = await csms.call(charger.id, "GetConfiguration", {})
        assert took >= 0.8
        assert any(k["key"] == "HeartbeatInterval" for k in answer["configurationKey"])


async def test_field_quirks_reach_the_wire(charger_fleet: Fleet) -> None:
    quirks = Faults(quirks=frozenset({"no-subprotocol", "long-strings", "unknown-measurand", "enum-case",
                                      "double-stop", "zero-register", "connector0-sum"}))  # fmt: skip
    async with (
        plain_csms() as csms,
        charger_fleet(csms.url, 1, speed=600, plan=one_ev, faults=quirks, connectors=2) as fleet,
    ):
        await fleet.wait_charging()
        charger = fleet.chargers[0]
        await fleet.wait_for(lambda: len(csms.calls(charger.id, "MeterValues")) >= 12, 30, "meter values")
        assert csms.subprotocols[charger.id][0] is None
        boot = csms.calls(charger.id, "BootNotification")[0]
        assert len(boot["chargePointSerialNumber"]) == 33
        statuses = {s["status"] for s in csms.calls(charger.id, "StatusNotification")}
        assert "available" in statuses
        assert "Available" not in statuses
        meters = csms.calls(charger.id, "MeterValues")
        measurands = {s.get("measurand") for m in meters for v in m["meterValue"] for s in v["sampledValue"]}
        assert "Temperature.Board" in measurands
        assert any(m["connectorId"] == 0 for m in meters)
        assert 0.0 in registers([m for m in meters if m["connectorId"] == 1])
        await csms.call(charger.id, "RemoteStopTransaction", {"transactionId": 1})
        await fleet.wait_for(lambda: len(csms.calls(charger.id, "StopTransaction")) == 2, 20, "a double stop")


async def test_a_charger_that_rejects_profiles_keeps_its_offer(charger_fleet: Fleet) -> None:
    async with (
        plain_csms() as csms,
        charger_fleet(csms.url, 1, speed=60, plan=one_ev, faults=Faults(reject_profiles=True)) as fleet,
    ):
        await fleet.wait_charging()
        charger = fleet.chargers[0]
        profile = {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6}]},
        }
        answer, _ = await csms.call(charger.id, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile})
        assert answer == {"status": "Rejected"}
        await asyncio.sleep(0.3)
        assert charger.offered_limit_a() == 16.0


async def test_firmware_diagnostics_availability_and_reservation_flows(charger_fleet: Fleet) -> None:
    async with plain_csms() as csms, charger_fleet(csms.url, 1, speed=60) as fleet:
        await fleet.wait_connected()
        cid = fleet.chargers[0].id
        await csms.call(
            cid,
            "UpdateFirmware",
            {"location": f"http://127.0.0.1:{closed_port()}/fw.bin", "retrieveDate": "2026-01-01T00:00:00Z"},
        )
        await csms.call(cid, "GetDiagnostics", {"location": "ftp://127.0.0.1/"})  # FTP: not spoken, it fails
        await fleet.wait_for(lambda: len(csms.calls(cid, "DiagnosticsStatusNotification")) == 2, 10, "diagnostics")
        assert [c["status"] for c in csms.calls(cid, "DiagnosticsStatusNotification")] == ["Uploading", "UploadFailed"]
        await fleet.wait_for(lambda: len(csms.calls(cid, "FirmwareStatusNotification")) == 2, 10, "firmware")
        # nobody serves the URL: the download fails as a real charger reports it (the whole flow: test_file_transfers)
        assert [c["status"] for c in csms.calls(cid, "FirmwareStatusNotification")] == ["Downloading", "DownloadFailed"]
        answer, _ = await csms.call(cid, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
        assert answer == {"status": "Accepted"}
        await fleet.wait_for(lambda: csms.calls(cid, "StatusNotification")[-1]["status"] == "Unavailable", 5, "Unavail")
        await csms.call(cid, "ChangeAvailability", {"connectorId": 1, "type": "Operative"})
        answer, _ = await csms.call(cid, "ReserveNow", {"connectorId": 1, "expiryDate": "2030-01-01T00:00:00Z",
                                                        "idTag": "T", "reservationId": 9})  # fmt: skip
        assert answer == {"status": "Accepted"}
        await fleet.wait_for(lambda: csms.calls(cid, "StatusNotification")[-1]["status"] == "Reserved", 5, "Reserved")
        answer, _ = await csms.call(cid, "CancelReservation", {"reservationId": 9})
        assert answer == {"status": "Accepted"}
        assert (await csms.call(cid, "CancelReservation", {"reservationId": 9}))[0] == {"status": "Rejected"}


async def test_the_201_station_plays_firmware_log_availability_reservation_and_local_list(
    charger_fleet: Fleet,
) -> None:
    async with plain_csms() as csms, charger_fleet(csms.url, 1, speed=60, protocol="2.0.1") as fleet:
        await fleet.wait_connected()
        cid = fleet.chargers[0].id
        assert csms.subprotocols[cid] == ["ocpp2.0.1"]
        firmware = {"location": f"http://127.0.0.1:{closed_port()}/fw.bin", "retrieveDateTime": "2026-01-01T00:00:00Z"}
        answer, _ = await csms.call(cid, "UpdateFirmware", {"requestId": 3, "firmware": firmware})
        assert answer == {"status": "Accepted"}
        log = {"remoteLocation": f"http://127.0.0.1:{closed_port()}/logs"}
        answer, _ = await csms.call(cid, "GetLog", {"log": log, "logType": "DiagnosticsLog", "requestId": 4})
        assert answer["status"] == "Accepted"
        await fleet.wait_for(lambda: len(csms.calls(cid, "FirmwareStatusNotification")) == 2, 10, "firmware")
        await fleet.wait_for(lambda: len(csms.calls(cid, "LogStatusNotification")) == 2, 10, "log upload")
        assert [c["status"] for c in csms.calls(cid, "LogStatusNotification")] == ["Uploading", "UploadFailure"]
        assert {c["requestId"] for c in csms.calls(cid, "FirmwareStatusNotification")} == {3}
        answer, _ = await csms.call(cid, "ChangeAvailability", {"operationalStatus": "Inoperative"})
        assert answer == {"status": "Accepted"}
        await fleet.wait_for(
            lambda: csms.calls(cid, "StatusNotification")[-1]["connectorStatus"] == "Unavailable", 5, "Unavailable"
        )
        await csms.call(cid, "ChangeAvailability", {"operationalStatus": "Operative"})
        reserve = {"id": 5, "expiryDateTime": "2030-01-01T00:00:00Z", "idToken": {"idToken": "T", "type": "ISO14443"}}
        answer, _ = await csms.call(cid, "ReserveNow", {**reserve, "evseId": 1})
        assert answer == {"status": "Accepted"}
        await fleet.wait_for(
            lambda: csms.calls(cid, "StatusNotification")[-1]["connectorStatus"] == "Reserved", 5, "Reserved"
        )
        assert (await csms.call(cid, "CancelReservation", {"reservationId": 5}))[0] == {"status": "Accepted"}
        answer, _ = await csms.call(cid, "SendLocalList", {"versionNumber": 7, "updateType": "Full"})
        assert answer == {"status": "Accepted"}
        assert (await csms.call(cid, "GetLocalListVersion", {}))[0] == {"versionNumber": 7}


async def test_against_coopgrid_faults_lose_no_energy_and_make_no_duplicate_session(
    tmp_path: Path, charger_fleet: Fleet
) -> None:
    chargers = [{"id": f"SIM-{n}", "site_id": "site-a", "lenient": True} for n in (1, 2, 3, 4)]
    settings = make_settings(tmp_path, chargers=chargers, id_tags=[{"id": "DEMO-TAG"}])
    faults = Faults(drop_every_s=2.0, duplicate_rate=0.3, quirks=frozenset({"double-stop", "long-strings"}))
    stay = [EVArrival(0.0, battery_wh=60_000.0, soc=0.2, target_soc=0.9, max_power_w=11_000.0, stay_s=1800.0)]
    async with (
        running_platform(settings) as platform,
        charger_fleet(
            platform.ocpp_url, 4, speed=300, plan=lambda _: list(stay), faults=faults, protocol="mixed"
        ) as fleet,
    ):
        await fleet.wait_charging(4, within_s=30)
        await fleet.wait_for(lambda: fleet.summary()["drops"] > 4, 30, "drops")
        fleet.storm()  # and everyone at once

        def done() -> bool:
            gone = all(c.connectors[1].ev is None and c.transaction_id() is None for c in fleet.chargers)
            return gone and not any(c._outbox for c in fleet.chargers)  # noqa: SLF001

        await fleet.wait_for(done, 40, "every EV gone and every message delivered")
        await fleet.wait_connected()
        await asyncio.sleep(0.5)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{platform.http_url}/api/sessions") as response:
                sessions = await response.json()
        for charger in fleet.chargers:
            mine = [s for s in sessions if s["charge_point_id"] == charger.id]
            assert len(mine) == 1, mine
            assert not mine[0]["active"]
            assert abs(mine[0]["energy_wh"] - charger.energy_wh) <= 1.0, (mine, charger.energy_wh, charger.sent)


async def test_inverter_outage_fires_the_last_will_and_counters_reset(
    mosquitto: tuple[str, int], solar_parks: Fleet
) -> None:
    host, port = mosquitto
    seen: list[tuple[str, str]] = []

    async with aiomqtt.Client(host, port, identifier="outage-watch") as watch:
        await watch.subscribe("coopgrid/solar/#", qos=1)
        async with solar_parks(
            host, port, inverters=2, speed=600, rated_power_w=5000.0, publish_interval_s=0.1
        ) as fleet:
            park = fleet.parks[0]

            async def collect() -> None:
                async for message in watch.messages:
                    seen.append((str(message.topic), bytes(message.payload).decode()))  # type: ignore[arg-type]

            reader = asyncio.create_task(collect())
            try:
                await fleet.wait_for(lambda: park.published >= 10, 10, "telemetry")
                park.outage("inv-1")
                await fleet.wait_for(lambda: ("coopgrid/solar/park-1/inv-1/state", "offline") in seen, 30, "last will")
                park.restore("inv-1")
                park.reset_counter("inv-2")
                seen.clear()
                await fleet.wait_for(
                    lambda: ("coopgrid/solar/park-1/inv-1/state", "online") in seen, 10, "online again"
                )
                await fleet.wait_for(lambda: sum("inv-2/telemetry" in t for t, _ in seen) >= 3, 10, "telemetry")
            finally:
                reader.cancel()
    telemetry = [json.loads(p) for t, p in seen if t.endswith("inv-2/telemetry")]
    assert telemetry[-1]["energy_wh"] < 1000  # counted again from zero
    assert 0 < telemetry[-1]["ac_power_w"] <= 5000.0


async def test_the_201_station_answers_whether_a_transaction_runs_and_what_it_queued(
    tmp_path: Path, charger_fleet: Fleet
) -> None:
    settings = make_settings(tmp_path, chargers=[{"id": "SIM-1", "site_id": "site-a"}], id_tags=[{"id": "DEMO-TAG"}])
    async with (
        running_platform(settings) as platform,
        charger_fleet(platform.ocpp_url, 1, speed=60, protocol="2.0.1", plan=one_ev) as fleet,
        aiohttp.ClientSession() as http,
    ):
        await fleet.wait_charging()
        charger = fleet.chargers[0]
        running = str(charger.connectors[1].transaction_id)
        url = f"{platform.http_url}/api/sessions/{running}/transaction-status"
        async with http.post(url) as response:
            assert response.status == 200
            body = await response.json()
        assert (body["ongoingIndicator"], body["messagesInQueue"], body["state"]) == (True, False, "ongoing")
        ask = f"{platform.http_url}/api/chargepoints/{charger.id}/ocpp/GetTransactionStatus"
        async with http.post(ask, json={"transactionId": "not-here"}) as response:
            assert await response.json() == {"ongoingIndicator": False, "messagesInQueue": False}
        # a message waiting in its outbox (sent while offline) is said to be queued, for that transaction only
        charger._outbox.append(charger._event(charger.connectors[1], "Updated", "MeterValuePeriodic"))  # noqa: SLF001
        async with http.post(url) as response:
            body = await response.json()
        assert (body["ongoingIndicator"], body["messagesInQueue"], body["state"]) == (True, True, "ongoing")
        async with http.post(ask, json={}) as response:
            assert await response.json() == {"messagesInQueue": True}
        async with http.post(ask, json={"transactionId": "not-here"}) as response:
            assert await response.json() == {"ongoingIndicator": False, "messagesInQueue": False}
