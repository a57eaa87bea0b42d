"""The simulated OCPP 2.1 station against a plain independent server (tests/fixtures/plain_csms.py), exact
frames: it offers ocpp2.1, and answers SetDefaultTariff, ChangeTransactionTariff, GetTariffs, ClearTariffs
and CostUpdated as 2.1 says; it follows Dynamic profiles (UpdateDynamicSchedule, PullDynamicScheduleUpdate)
and priority charging (UsePriorityCharging, NotifyPriorityCharging); a call that breaks the 2.1 schema gets
the ocpp library's CallError."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from simulators.chargepoint21 import SimulatedChargePoint21
from simulators.ev import EVArrival
from simulators.pytest_plugin import RunningFleet
from tests.fixtures.plain_csms import plain_csms

pytestmark = pytest.mark.integration

Fleet = Callable[..., AbstractAsyncContextManager[RunningFleet]]
TARIFF = {
    "tariffId": "t-1",
    "currency": "EUR",
    "energy": {
        "prices": [
            {"priceKwh": 0.2, "conditions": {"startTimeOfDay": "22:00", "endTimeOfDay": "06:00"}},
            {"priceKwh": 0.3},
        ],
        "taxRates": [{"type": "VAT", "tax": 21}],
    },
    "fixedFee": {"prices": [{"priceFixed": 0.5}]},
}


async def test_the_21_station_answers_tariff_calls_in_exact_frames(charger_fleet: Fleet) -> None:
    async with plain_csms() as csms, charger_fleet(csms.url, 1, speed=60, protocol="2.1") as fleet:
        await fleet.wait_connected()
        station = fleet.chargers[0]
        assert isinstance(station, SimulatedChargePoint21)
        cid = station.id
        assert csms.subprotocols[cid] == ["ocpp2.1"]
        assert csms.calls(cid, "BootNotification") == [
            {"chargingStation": {"model": "SimCP", "vendorName": "CoopGrid"}, "reason": "PowerUp"}
        ]

        async def call(action: str, payload: dict[str, Any]) -> Any:
            return (await csms.call(cid, action, payload))[0]

        assert await call("SetDefaultTariff", {"evseId": 0, "tariff": TARIFF}) == {"status": "Accepted"}
        assert station.default_tariffs == {0: TARIFF}
        power = {**TARIFF, "tariffId": "t-2", "energy": {"prices": [{"priceKwh": 1, "conditions": {"minPower": 1}}]}}
        assert await call("SetDefaultTariff", {"evseId": 1, "tariff": power}) == {
            "status": "ConditionNotSupported",
            "statusInfo": {"reasonCode": "Unsupported", "additionalInfo": "energy.minPower"},
        }
        assert await call("SetDefaultTariff", {"evseId": 7, "tariff": TARIFF}) == {
            "status": "Rejected",
            "statusInfo": {"reasonCode": "UnknownEvse"},
        }
        missing = await call("SetDefaultTariff", {"evseId": 0})
        assert missing[0] == 4
        assert missing[2] == "ProtocolError"  # the ocpp library's code for a required field missing
        wrong = await call("SetDefaultTariff", {"evseId": 0, "tariff": {**TARIFF, "currency": "EURO"}})
        assert (wrong[0], wrong[2]) == (4, "TypeConstraintViolation")  # the library: a string too long
        assert station.default_tariffs == {0: TARIFF}  # none of those changed anything
        assert await call("ChangeTransactionTariff", {"transactionId": "nope", "tariff": TARIFF}) == {
            "status": "TxNotFound"
        }
        assert await call("GetTariffs", {"evseId": 0}) == {
            "status": "Accepted",
            "tariffAssignments": [{"tariffId": "t-1", "tariffKind": "DefaultTariff", "evseIds": [0]}],
        }
        assert await call("ClearTariffs", {"tariffIds": ["t-1"]}) == {
            "clearTariffsResult": [{"tariffId": "t-1", "status": "Accepted"}]
        }
        assert await call("GetTariffs", {"evseId": 0}) == {"status": "NoTariff"}
        assert await call("CostUpdated", {"totalCost": 1.25, "transactionId": "tx-1"}) == {}
        assert station.costs_shown == {"tx-1": 1.25}


EV = [EVArrival(0.0, battery_wh=60_000.0, soc=0.2, target_soc=0.9, max_power_w=11_000.0, stay_s=4 * 3600.0)]


def dynamic_profile(transaction_id: str, limit: float, interval_s: int | None = None) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "id": 1001,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Dynamic",
        "chargingSchedule": [
            {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}
        ],
        "transactionId": transaction_id,
        "dynUpdateTime": "2026-03-01T12:00:00Z",
    }
    if interval_s is not None:
        profile["dynUpdateInterval"] = interval_s
    return {"evseId": 1, "chargingProfile": profile}


async def test_the_21_station_follows_dynamic_profiles_and_priority_charging(charger_fleet: Fleet) -> None:
    async with plain_csms() as csms, charger_fleet(csms.url, 1, speed=60, protocol="2.1", plan=lambda _: EV) as fleet:
        await fleet.wait_charging()
        station = fleet.chargers[0]
        assert isinstance(station, SimulatedChargePoint21)
        cid, transaction_id = station.id, str(station.transaction_id())

        async def call(action: str, payload: dict[str, Any]) -> Any:
            return (await csms.call(cid, action, payload))[0]

        # a Dynamic TxProfile is followed like any other; its limit changed in place by UpdateDynamicSchedule
        assert await call("SetChargingProfile", dynamic_profile(transaction_id, 10.0)) == {"status": "Accepted"}
        await fleet.wait_for(lambda: station.offered_limit_a() == 10.0, 5, "10 A offered")
        update = {"chargingProfileId": 1001, "scheduleUpdate": {"limit": 8.0}}
        assert await call("UpdateDynamicSchedule", update) == {"status": "Accepted"}
        await fleet.wait_for(lambda: station.offered_limit_a() == 8.0, 5, "8 A offered")
        assert station.dynamic_limit() == 8.0
        assert station.dynamic_updates == [(1001, {"limit": 8.0})]
        unknown = {"chargingProfileId": 7, "scheduleUpdate": {"limit": 6.0}}
        assert await call("UpdateDynamicSchedule", unknown) == {
            "status": "Rejected",
            "statusInfo": {"reasonCode": "UnknownProfile"},
        }
        missing = await call("UpdateDynamicSchedule", {"chargingProfileId": 1001})
        assert (missing[0], missing[2]) == (4, "ProtocolError")  # the library: a required field missing
        assert station.dynamic_limit() == 8.0
        # it pulls: an Accepted update applied, a Rejected one changes nothing
        csms.pull_limit = 12.0
        assert await station.pull_dynamic_update() == {"status": "Accepted", "scheduleUpdate": {"limit": 12.0}}
        assert station.dynamic_limit() == 12.0
        csms.pull_limit = None
        pulled = await station.pull_dynamic_update()
        assert pulled == {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownProfile"}}
        assert station.dynamic_limit() == 12.0
        assert csms.calls(cid, "PullDynamicScheduleUpdate") == [{"chargingProfileId": 1001}] * 2
        # ... and by itself every dynUpdateInterval (60 simulated seconds: one real second here)
        csms.pull_limit = 9.0
        assert await call("SetChargingProfile", dynamic_profile(transaction_id, 10.0, 60)) == {"status": "Accepted"}
        await fleet.wait_for(lambda: station.dynamic_limit() == 9.0, 10, "the pulled limit")
        await fleet.wait_for(lambda: station.offered_limit_a() == 9.0, 5, "9 A offered")
        station.reject_dynamic_updates = True
        refused = await call("UpdateDynamicSchedule", update)
        assert refused["status"] == "Rejected"
        station.reject_dynamic_updates = False

        # priority charging: its PriorityCharging profile (its maximum) over the TxProfile while on
        use = {"transactionId": transaction_id, "activate": True}
        assert await call("UsePriorityCharging", use) == {"status": "Accepted"}
        await fleet.wait_for(lambda: station.offered_limit_a() == 16.0, 5, "its maximum offered")
        assert station.priority_charging == {1: True}
        assert await call("UsePriorityCharging", {**use, "activate": False}) == {"status": "Accepted"}
        await fleet.wait_for(lambda: station.offered_limit_a() == 9.0, 5, "the dynamic limit again")
        assert await call("UsePriorityCharging", {**use, "transactionId": "nope"}) == {
            "status": "Rejected",
            "statusInfo": {"reasonCode": "TxNotFound"},
        }
        station.priority_limit_a = None  # a station without a PriorityCharging profile
        assert await call("UsePriorityCharging", use) == {"status": "NoProfile"}
        station.priority_limit_a = 16.0
        # its driver asks for priority: switched there, told with NotifyPriorityCharging
        assert await station.set_priority_charging(1, True)
        assert csms.calls(cid, "NotifyPriorityCharging") == [{"transactionId": transaction_id, "activated": True}]
        await fleet.wait_for(lambda: station.offered_limit_a() == 16.0, 5, "its maximum offered")
        assert await station.set_priority_charging(1, False)
        assert csms.calls(cid, "NotifyPriorityCharging")[-1] == {"transactionId": transaction_id, "activated": False}
