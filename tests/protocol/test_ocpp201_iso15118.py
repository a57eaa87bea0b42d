"""ISO 15118 smart charging over OCPP 2.0.1 (K15-K17), exact frames over a real loopback WebSocket.

NotifyEVChargingNeeds becomes the session's departure target and is answered Accepted (the TxProfile
follows from the central system) or Processing (the scheduler's first limit is the profile); every TxProfile
for the EV is held within its range; a change of the scheduler's limit sends a new one (renegotiation);
NotifyEVChargingSchedule is Accepted within the profile the station accepted, else Rejected.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform

BOOT = {"chargingStation": {"model": "M15118", "vendorName": "V2"}, "reason": "PowerUp"}
TX = "tx-15118"


class Station:
    """A raw 2.0.1 station: frames as lists; the central system's calls answered Accepted and kept."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.unread: list[list[Any]] = []  # calls of the central system not yet looked at

    async def _frame(self, within_s: float) -> list[Any]:
        frame = json.loads(await self.ws.receive_str(timeout=within_s))
        if frame[0] == 2:
            self.unread.append(frame)
            if frame[2] == "GetVariables":
                reply: dict[str, Any] = {
                    "getVariableResult": [
                        {"attributeStatus": "Accepted", "attributeValue": "A", **item}
                        for item in frame[3]["getVariableData"]
                    ]
                }
            else:
                reply = {"status": "Accepted"}
            await self.ws.send_str(json.dumps([3, frame[1], reply]))
        return list(frame)

    async def call(self, unique_id: str, action: str, payload: dict[str, Any]) -> list[Any]:
        await self.ws.send_str(json.dumps([2, unique_id, action, payload]))
        while True:
            frame = await self._frame(5)
            if frame[0] != 2:
                return frame

    async def server_call(self, action: str, within_s: float = 8.0) -> list[Any]:
        """The next call of the central system with this action (read from the socket if not yet here)."""
        while True:
            for frame in self.unread:
                if frame[2] == action:
                    self.unread.remove(frame)
                    return frame
            await self._frame(within_s)


@asynccontextmanager
async def station(platform: Platform, charger: str, protocol: str = "ocpp2.0.1") -> AsyncIterator[Station]:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/{charger}", protocols=(protocol,)) as ws,
    ):
        client = Station(ws)
        assert (await client.call("boot", "BootNotification", BOOT))[2]["status"] == "Accepted"
        yield client


def started(evse_id: int = 1) -> dict[str, Any]:
    return {
        "eventType": "Started",
        "timestamp": iso(datetime.now(UTC)),
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": TX},
        "evse": {"id": evse_id, "connectorId": 1},
        "idToken": {"idToken": "TAG-OK", "type": "ISO14443"},
        "meterValue": [
            {
                "timestamp": iso(datetime.now(UTC)),
                "sampledValue": [{"value": 1000, "measurand": "Energy.Active.Import.Register"}],
            }
        ],
    }


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


DEPARTURE = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)


def needs(energy_wh: int = 40_000, departure: datetime = DEPARTURE, **ac: Any) -> dict[str, Any]:
    params = {"energyAmount": energy_wh, "evMinCurrent": 6, "evMaxCurrent": 13, "evMaxVoltage": 400, **ac}
    return {
        "evseId": 1,
        "maxScheduleTuples": 1,
        "chargingNeeds": {
            "requestedEnergyTransfer": "AC_three_phase",
            "departureTime": iso(departure),
            "acChargingParameters": params,
        },
    }


def tx_profile(limit: float) -> dict[str, Any]:
    return {
        "evseId": 1,
        "chargingProfile": {
            "id": 1,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": [
                {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}
            ],
            "transactionId": TX,
        },
    }


def ev_schedule(limit: float, unit: str = "A") -> dict[str, Any]:
    return {
        "timeBase": iso(datetime.now(UTC)),
        "evseId": 1,
        "chargingSchedule": {
            "id": 3,
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit, "numberPhases": 3}],
        },
    }


def rejected(code: str, why: str) -> dict[str, Any]:
    return {"status": "Rejected", "statusInfo": {"reasonCode": code, "additionalInfo": why}}


async def get(platform: Platform, path: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(f"{platform.http_url}{path}") as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_needs_become_the_departure_target_and_the_profile_follows_within_the_ev_range(
    tmp_path: Path,
) -> None:
    async with running_platform(make_settings(tmp_path)) as platform, station(platform, "CP-A") as cp:
        assert (await cp.call("s", "TransactionEvent", started()))[2] == {"idTokenInfo": {"status": "Accepted"}}
        first = await cp.server_call("SetChargingProfile")  # the scheduler's: green mode, no sun
        assert first[3] == tx_profile(0.0)

        assert await cp.call("n", "NotifyEVChargingNeeds", needs()) == [3, "n", {"status": "Accepted"}]
        # the last limit again, now as the EV's profile; then the departure target's: 16 A held to the EV's 13
        assert (await cp.server_call("SetChargingProfile"))[3] == tx_profile(0.0)
        assert (await cp.server_call("SetChargingProfile"))[3] == tx_profile(13.0)
        [session] = await get(platform, "/api/sessions?active=true")
        assert (session["mode"], session["target_wh"], session["departure"]) == ("departure", 40_000.0, iso(DEPARTURE))

        assert await cp.call("e1", "NotifyEVChargingSchedule", ev_schedule(13.0)) == [3, "e1", {"status": "Accepted"}]
        assert await cp.call("e2", "NotifyEVChargingSchedule", ev_schedule(8970.0, "W")) == [
            3,
            "e2",
            {"status": "Accepted"},
        ]
        assert await cp.call("e3", "NotifyEVChargingSchedule", ev_schedule(14.0)) == [
            3,
            "e3",
            rejected("InvalidSchedule", "period 1 asks 14 A, above the 13 A sent"),
        ]

        # renegotiation: the scheduler's limit changes (the site's grid limit), a new profile goes out
        async with (
            aiohttp.ClientSession() as http,
            http.patch(f"{platform.http_url}/api/sites/site-a", json={"grid_limit_a": 8.0}) as response,
        ):
            assert response.status == 200
        assert (await cp.server_call("SetChargingProfile"))[3] == tx_profile(8.0)
        above = await cp.call("e4", "NotifyEVChargingSchedule", ev_schedule(13.0))
        assert above[2]["statusInfo"]["additionalInfo"] == "period 1 asks 13 A, above the 8 A sent"
        assert await cp.call("e5", "NotifyEVChargingSchedule", ev_schedule(8.0)) == [3, "e5", {"status": "Accepted"}]

        events = await get(platform, "/api/chargepoints/CP-A/events")
        answered = [(e["kind"], e["payload"]["answer"]["status"]) for e in reversed(events) if "answer" in e["payload"]]
        assert answered == [("NotifyEVChargingNeeds", "Accepted")] + [
            ("NotifyEVChargingSchedule", status)
            for status in ("Accepted", "Accepted", "Rejected", "Rejected", "Accepted")
        ]


async def allocated(platform: Platform, wanted: dict[str, float], within_s: float = 8.0) -> dict[str, float]:
    """The site's published setpoints (charger -> limit), once they are `wanted` (or as they are at the end)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        allocation = await get(platform, "/api/sites/site-a/allocation")
        limits = {p["charge_point_id"]: p["limit_a"] for p in allocation["setpoints"]}
        if limits == wanted or asyncio.get_running_loop().time() > deadline:
            return limits
        await asyncio.sleep(0.1)


async def test_the_ev_range_is_the_session_ceiling_in_the_scheduler_and_the_rest_goes_to_the_other_car(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, sites=[{"id": "site-a", "grid_limit_a": 26.0}])
    async with (
        running_platform(settings) as platform,
        station(platform, "CP-A") as a,
        station(platform, "CP-B") as b,
        aiohttp.ClientSession() as http,
    ):
        for cp in (a, b):
            await cp.call("s", "TransactionEvent", started())
            assert (await cp.server_call("SetChargingProfile"))[3] == tx_profile(0.0)  # green, no sun
        async with http.put(
            f"{platform.http_url}/api/sessions/{TX}/mode?chargepoint=CP-B", json={"mode": "fast"}
        ) as response:
            assert response.status == 200
        assert (await b.server_call("SetChargingProfile"))[3] == tx_profile(16.0)

        # CP-A's EV takes at most 10 A: its departure target draws that from the grid, and CP-B keeps its 16 A
        # (the 26 A site would otherwise have cut CP-B to 10 A for a 16 A CP-A its EV never takes)
        assert await a.call("n", "NotifyEVChargingNeeds", needs(evMaxCurrent=10)) == [3, "n", {"status": "Accepted"}]
        assert (await a.server_call("SetChargingProfile"))[3] == tx_profile(0.0)  # the last limit, as the profile
        assert (await a.server_call("SetChargingProfile"))[3] == tx_profile(10.0)
        assert await allocated(platform, {"CP-A": 10.0, "CP-B": 16.0}) == {"CP-A": 10.0, "CP-B": 16.0}
        assert not [c for c in b.unread if c[2] == "SetChargingProfile"]

        # the session shows what its EV told; the planner plans it within that range
        [session] = await get(platform, "/api/sessions?active=true&chargepoint=CP-A")
        ev = session["ev_needs"]
        assert (ev["energy_transfer"], ev["phases"], ev["departure"]) == ("AC_three_phase", 3, iso(DEPARTURE))
        assert (ev["min_charge_current_a"], ev["max_charge_current_a"], ev["max_voltage_v"]) == (6.0, 10.0, 400.0)
        assert (ev["energy_wh"], ev["session_energy_wh"]) == (40_000.0, 40_000.0)
        assert (ev["control_mode"], ev["max_discharge_power_w"]) == (None, None)  # 2.0.1 has no V2X
        assert platform.replanner is not None
        platform.replanner.plan_now()
        assert platform.replanner.last_input is not None
        planned = {s.key: s for s in platform.replanner.last_input.sessions}
        assert (planned["CP-A/1"].min_current_a, planned["CP-A/1"].max_current_a) == (6.0, 10.0)
        assert (planned["CP-B/1"].min_current_a, planned["CP-B/1"].max_current_a) == (6.0, 16.0)


async def test_needs_before_the_scheduler_limit_are_processing_and_its_first_limit_is_the_profile(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, scheduler={"debounce_s": 1.0, "tick_s": 60.0})
    async with running_platform(settings) as platform, station(platform, "CP-A") as cp:
        await asyncio.sleep(1.5)  # the scheduler's runs for the start and the connection are over
        await cp.call("s", "TransactionEvent", started())
        assert await cp.call("n", "NotifyEVChargingNeeds", needs()) == [3, "n", {"status": "Processing"}]
        assert (await cp.server_call("SetChargingProfile"))[3] == tx_profile(13.0)


async def test_a_charger_no_scheduler_manages_gets_its_unmanaged_limit_within_the_ev_range(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ocpp={"unmanaged_limit_a": 10.0})  # CP-U: unknown, at no site
    async with running_platform(settings) as platform, station(platform, "CP-U") as cp:
        await cp.call("s", "TransactionEvent", started())
        assert await cp.call("n", "NotifyEVChargingNeeds", needs()) == [3, "n", {"status": "Accepted"}]
        assert (await cp.server_call("SetChargingProfile"))[3]["evseId"] == 0  # the boot's TxDefaultProfile
        assert (await cp.server_call("SetChargingProfile"))[3] == tx_profile(10.0)
        [session] = await get(platform, "/api/sessions?active=true")
        assert (session["mode"], session["target_wh"]) == ("green", None)  # nothing schedules it
        # an EV that wants less than the limit: its maximum
        assert (await cp.call("n2", "NotifyEVChargingNeeds", needs(evMaxCurrent=8)))[2] == {"status": "Accepted"}
        assert (await cp.server_call("SetChargingProfile"))[3] == tx_profile(8.0)


async def test_needs_and_schedules_that_cannot_be_used_are_rejected_with_the_reason(tmp_path: Path) -> None:
    async with running_platform(make_settings(tmp_path)) as platform, station(platform, "CP-A") as cp:
        no_profile = rejected("NoProfile", "no charging profile was accepted for EVSE 1's transaction")
        assert await cp.call("e0", "NotifyEVChargingSchedule", ev_schedule(6.0)) == [3, "e0", no_profile]
        no_transaction = rejected("TxNotFound", "no transaction runs on EVSE 1")
        assert await cp.call("n0", "NotifyEVChargingNeeds", needs()) == [3, "n0", no_transaction]
        await cp.call("s", "TransactionEvent", started())
        past = datetime.now(UTC) - timedelta(minutes=5)
        refused = [
            (needs(evMinCurrent=20), "InvalidValue", "evMinCurrent 20 A is above evMaxCurrent 13 A"),
            (needs(departure=past), "InvalidValue", "departureTime is not in the future"),
            (
                {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "DC"}},
                "MissingParam",
                "DC needs dcChargingParameters",
            ),
        ]
        for n, (payload, code, why) in enumerate(refused):
            answer = await cp.call(f"r{n}", "NotifyEVChargingNeeds", payload)
            assert answer == [3, f"r{n}", rejected(code, why)]
        [session] = await get(platform, "/api/sessions?active=true")
        assert session["mode"] == "green"  # nothing of a refused message was taken
        assert (await cp.call("h", "Heartbeat", {}))[0] == 3


async def test_after_the_transaction_ends_its_profile_no_longer_checks_schedules(tmp_path: Path) -> None:
    async with running_platform(make_settings(tmp_path)) as platform, station(platform, "CP-A") as cp:
        await cp.call("s", "TransactionEvent", started())
        await cp.server_call("SetChargingProfile")
        assert (await cp.call("e1", "NotifyEVChargingSchedule", ev_schedule(0.0)))[2] == {"status": "Accepted"}
        ended = {
            **started(),
            "eventType": "Ended",
            "triggerReason": "EVDeparted",
            "seqNo": 1,
            "transactionInfo": {"transactionId": TX, "stoppedReason": "EVDisconnected"},
        }
        del ended["idToken"]
        await cp.call("x", "TransactionEvent", ended)
        assert (await cp.call("e2", "NotifyEVChargingSchedule", ev_schedule(0.0)))[2]["statusInfo"]["reasonCode"] == (
            "NoProfile"
        )
        assert platform.central.departure_targets is platform.world
