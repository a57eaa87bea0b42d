"""Every central-system-initiated OCPP 1.6J action (with the security extension) goes out through REST.

For each action: a schema-valid request posted to `/api/chargepoints/{id}/ocpp/{Action}`
arrives at the charger exactly as sent, and the charger's answer comes back as the
HTTP response; an invalid request is refused with 422 before anything is sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform

PROFILE = {
    "chargingProfileId": 7,
    "stackLevel": 1,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {
        "startSchedule": "2026-01-01T00:00:00Z",
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}, {"startPeriod": 3600, "limit": 21.4}],
    },
}
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

# action: (request, the charger's answer)
ACTIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # Core
    "ChangeAvailability": ({"connectorId": 0, "type": "Inoperative"}, {"status": "Scheduled"}),
    "ChangeConfiguration": ({"key": "MeterValueSampleInterval", "value": "30"}, {"status": "Accepted"}),
    "ClearCache": ({}, {"status": "Accepted"}),
    "DataTransfer": (
        {"vendorId": "com.example", "messageId": "ping", "data": "x"},
        {"status": "Accepted", "data": "y"},
    ),
    "GetConfiguration": (
        {"key": ["HeartbeatInterval"]},
        {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]},
    ),
    "RemoteStartTransaction": (
        {"connectorId": 1, "idTag": "TAG-OK", "chargingProfile": {**PROFILE, "chargingProfilePurpose": "TxProfile"}},
        {"status": "Accepted"},
    ),
    "RemoteStopTransaction": ({"transactionId": 12}, {"status": "Rejected"}),
    "Reset": ({"type": "Hard"}, {"status": "Accepted"}),
    "UnlockConnector": ({"connectorId": 1}, {"status": "Unlocked"}),
    # Firmware management
    "GetDiagnostics": ({"location": "ftp://127.0.0.1/logs", "retries": 2}, {"fileName": "diag.zip"}),
    "UpdateFirmware": ({"location": "https://127.0.0.1/fw.bin", "retrieveDate": "2026-01-01T00:00:00Z"}, {}),
    # Local auth list management
    "GetLocalListVersion": ({}, {"listVersion": 4}),
    "SendLocalList": (
        {
            "listVersion": 5,
            "updateType": "Differential",
            "localAuthorizationList": [{"idTag": "TAG-OK", "idTagInfo": {"status": "Accepted"}}],
        },
        {"status": "Accepted"},
    ),
    # Reservation
    "ReserveNow": (
        {"connectorId": 1, "expiryDate": "2026-01-01T01:00:00Z", "idTag": "TAG-OK", "reservationId": 3},
        {"status": "Accepted"},
    ),
    "CancelReservation": ({"reservationId": 3}, {"status": "Accepted"}),
    # Smart charging
    "SetChargingProfile": ({"connectorId": 1, "csChargingProfiles": PROFILE}, {"status": "Accepted"}),
    "ClearChargingProfile": ({"id": 7}, {"status": "Accepted"}),
    "GetCompositeSchedule": (
        {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"},
        {
            "status": "Accepted",
            "connectorId": 1,
            "scheduleStart": "2026-01-01T00:00:00Z",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
            },
        },
    ),
    # Remote trigger
    "TriggerMessage": ({"requestedMessage": "StatusNotification", "connectorId": 1}, {"status": "Accepted"}),
    # Security extension
    "CertificateSigned": ({"certificateChain": CERT}, {"status": "Accepted"}),
    "DeleteCertificate": (
        {
            "certificateHashData": {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "a",
                "issuerKeyHash": "b",
                "serialNumber": "1",
            }
        },
        {"status": "Accepted"},
    ),
    "ExtendedTriggerMessage": ({"requestedMessage": "SignChargePointCertificate"}, {"status": "Accepted"}),
    "GetInstalledCertificateIds": ({"certificateType": "CentralSystemRootCertificate"}, {"status": "NotFound"}),
    "GetLog": (
        {"logType": "SecurityLog", "requestId": 9, "log": {"remoteLocation": "https://127.0.0.1/upload"}},
        {"status": "Accepted", "filename": "security.log"},
    ),
    "InstallCertificate": (
        {"certificateType": "ManufacturerRootCertificate", "certificate": CERT},
        {"status": "Accepted"},
    ),
    "SignedUpdateFirmware": (
        {
            "requestId": 2,
            "firmware": {
                "location": "https://127.0.0.1/fw.bin",
                "retrieveDateTime": "2026-01-01T00:00:00Z",
                "signingCertificate": CERT,
                "signature": "c2ln",
            },
        },
        {"status": "Accepted"},
    ),
}


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(make_settings(tmp_path)) as running:
        yield running


async def test_every_csms_initiated_action(platform: Platform) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
    ):
        for action, (request, answer) in ACTIONS.items():
            url = f"{platform.http_url}/api/chargepoints/CP-A/ocpp/{action}"
            pending = asyncio.ensure_future(http.post(url, json=request))
            frame = json.loads(await ws.receive_str(timeout=5))
            assert frame[0] == 2
            assert frame[2:] == [action, request], action
            await ws.send_str(json.dumps([3, frame[1], answer]))
            response = await pending
            assert response.status == 200, (action, await response.text())
            assert await response.json() == answer, action


@pytest.mark.parametrize("action", ["Reset", "SetChargingProfile", "RemoteStartTransaction", "GetLog"])
async def test_invalid_requests_are_refused_before_sending(platform: Platform, action: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
    ):
        async with http.post(f"{platform.http_url}/api/chargepoints/CP-A/ocpp/{action}", json={"bogus": 1}) as response:
            assert response.status == 422
            body = await response.json()
            assert body["error"]["code"] in {
                "FormationViolation",
                "OccurenceConstraintViolation",
                "TypeConstraintViolation",
                "PropertyConstraintViolation",
            }
        with pytest.raises(TimeoutError):
            await ws.receive_str(timeout=0.3)  # nothing reached the charger


async def test_an_answer_that_breaks_the_schema_is_a_502(platform: Platform) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
    ):
        pending = asyncio.ensure_future(
            http.post(f"{platform.http_url}/api/chargepoints/CP-A/ocpp/Reset", json={"type": "Soft"})
        )
        frame = json.loads(await ws.receive_str(timeout=5))
        await ws.send_str(json.dumps([3, frame[1], {"status": "Maybe"}]))
        response = await pending
        assert response.status == 502


async def test_unknown_action_is_refused(platform: Platform) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)),
        http.post(f"{platform.http_url}/api/chargepoints/CP-A/ocpp/MakeCoffee", json={}) as response,
    ):
        assert response.status == 422
        assert (await response.json())["error"]["code"] == "NotImplemented"
