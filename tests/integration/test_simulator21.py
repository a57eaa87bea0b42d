"""The simulated OCPP 2.1 station against a plain independent server (tests/fixtures/plain_csms.py), exact
frames: it offers ocpp2.1, and answers SetDefaultTariff, ChangeTransactionTariff, GetTariffs, ClearTariffs
and CostUpdated as 2.1 says; a call that breaks the 2.1 schema gets the ocpp library's CallError."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from simulators.chargepoint21 import SimulatedChargePoint21
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
