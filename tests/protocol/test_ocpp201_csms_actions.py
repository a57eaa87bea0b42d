"""Every central-system-initiated OCPP 2.0.1 action through REST, exact frames; what it teaches is stored."""

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

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "a", "issuerKeyHash": "b", "serialNumber": "1"}
ACTIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "GetBaseReport": ({"requestId": 1, "reportBase": "FullInventory"}, {"status": "Accepted"}),
    "GetReport": ({"requestId": 2, "componentCriteria": ["Active"]}, {"status": "Accepted"}),
    "GetVariables": (
        {"getVariableData": [{"component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "RateUnit"}}]},
        {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": "A",
                    "component": {"name": "SmartChargingCtrlr"},
                    "variable": {"name": "RateUnit"},
                }
            ]
        },
    ),
    "SetVariables": (
        {
            "setVariableData": [
                {
                    "attributeValue": "60",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
        {
            "setVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
    ),
    "Reset": ({"type": "OnIdle"}, {"status": "Scheduled"}),
    "RequestStartTransaction": (
        {"idToken": {"idToken": "TAG-OK", "type": "Central"}, "remoteStartId": 5, "evseId": 1},
        {"status": "Accepted"},
    ),
    "RequestStopTransaction": ({"transactionId": "tx-1"}, {"status": "Accepted"}),
    "ChangeAvailability": ({"operationalStatus": "Inoperative", "evse": {"id": 1}}, {"status": "Accepted"}),
    "ReserveNow": (
        {"id": 3, "expiryDateTime": "2026-01-01T01:00:00Z", "idToken": {"idToken": "TAG-OK", "type": "Central"}},
        {"status": "Accepted"},
    ),
    "CancelReservation": ({"reservationId": 3}, {"status": "Accepted"}),
    "SetChargingProfile": (
        {
            "evseId": 1,
            "chargingProfile": {
                "id": 9,
                "stackLevel": 2,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [
                    {
                        "id": 1,
                        "startSchedule": "2026-01-01T00:00:00Z",
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}],
                    }
                ],
            },
        },
        {"status": "Accepted"},
    ),
    "GetChargingProfiles": (
        {"requestId": 4, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}},
        {"status": "Accepted"},
    ),
    "ClearChargingProfile": ({"chargingProfileId": 9}, {"status": "Accepted"}),
    "GetCompositeSchedule": ({"duration": 3600, "evseId": 1, "chargingRateUnit": "A"}, {"status": "Accepted"}),
    "GetLog": (
        {"logType": "DiagnosticsLog", "requestId": 6, "log": {"remoteLocation": "https://127.0.0.1/upload"}},
        {"status": "Accepted", "filename": "diag.log"},
    ),
    "UpdateFirmware": (
        {
            "requestId": 7,
            "firmware": {"location": "https://127.0.0.1/fw.bin", "retrieveDateTime": "2026-01-01T00:00:00Z"},
        },
        {"status": "Accepted"},
    ),
    "SetDisplayMessage": (
        {"message": {"id": 1, "priority": "NormalCycle", "message": {"format": "UTF8", "content": "Solar!"}}},
        {"status": "Accepted"},
    ),
    "GetDisplayMessages": ({"requestId": 8}, {"status": "Accepted"}),
    "ClearDisplayMessage": ({"id": 1}, {"status": "Accepted"}),
    "SetVariableMonitoring": (
        {
            "setMonitoringData": [
                {
                    "value": 1.0,
                    "type": "Delta",
                    "severity": 5,
                    "component": {"name": "EVSE"},
                    "variable": {"name": "Power"},
                }
            ]
        },
        {
            "setMonitoringResult": [
                {
                    "status": "Accepted",
                    "type": "Delta",
                    "severity": 5,
                    "component": {"name": "EVSE"},
                    "variable": {"name": "Power"},
                }
            ]
        },
    ),
    "SetMonitoringBase": ({"monitoringBase": "All"}, {"status": "Accepted"}),
    "GetMonitoringReport": ({"requestId": 10}, {"status": "Accepted"}),
    "ClearVariableMonitoring": ({"id": [1]}, {"clearMonitoringResult": [{"status": "Accepted", "id": 1}]}),
    "GetLocalListVersion": ({}, {"versionNumber": 3}),
    "SendLocalList": (
        {
            "versionNumber": 4,
            "updateType": "Full",
            "localAuthorizationList": [
                {"idToken": {"idToken": "TAG-OK", "type": "Central"}, "idTokenInfo": {"status": "Accepted"}}
            ],
        },
        {"status": "Accepted"},
    ),
    "ClearCache": ({}, {"status": "Accepted"}),
    "TriggerMessage": (
        {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}},
        {"status": "Accepted"},
    ),
    "UnlockConnector": ({"evseId": 1, "connectorId": 1}, {"status": "Unlocked"}),
    "DataTransfer": ({"vendorId": "com.example", "messageId": "ping"}, {"status": "Accepted"}),
    "CertificateSigned": ({"certificateChain": CERT}, {"status": "Accepted"}),
    "InstallCertificate": ({"certificateType": "CSMSRootCertificate", "certificate": CERT}, {"status": "Accepted"}),
    "GetInstalledCertificateIds": ({}, {"status": "NotFound"}),
    "DeleteCertificate": ({"certificateHashData": HASH}, {"status": "Accepted"}),
    "CustomerInformation": ({"requestId": 11, "report": True, "clear": False}, {"status": "Accepted"}),
    "CostUpdated": ({"totalCost": 3.5, "transactionId": "tx-1"}, {}),
    "GetTransactionStatus": ({"transactionId": "tx-1"}, {"messagesInQueue": False}),
    "SetNetworkProfile": (
        {
            "configurationSlot": 1,
            "connectionData": {
                "ocppVersion": "OCPP20",
                "ocppTransport": "JSON",
                "ocppCsmsUrl": "wss://127.0.0.1/ocpp",
                "messageTimeout": 30,
                "securityProfile": 2,
                "ocppInterface": "Wired0",
            },
        },
        {"status": "Accepted"},
    ),
    "PublishFirmware": (
        {"location": "https://127.0.0.1/fw.bin", "checksum": "abc", "requestId": 12},
        {"status": "Accepted"},
    ),
    "UnpublishFirmware": ({"checksum": "abc"}, {"status": "Unpublished"}),
}

BOOT = {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(make_settings(tmp_path)) as running:
        yield running


async def connect_201(http: aiohttp.ClientSession, platform: Platform) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp2.0.1",))
    await ws.send_str(json.dumps([2, "b", "BootNotification", BOOT]))
    while True:  # answer what follows a boot (RateUnit, and no safe profile in this configuration)
        frame = json.loads(await ws.receive_str(timeout=5))
        if frame[0] == 3:
            break
    frame = json.loads(await ws.receive_str(timeout=5))
    assert frame[2] == "GetVariables"
    await ws.send_str(json.dumps([3, frame[1], {"getVariableResult": []}]))
    return ws


async def test_every_csms_initiated_201_action(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await connect_201(http, platform)
        for action, (request, answer) in ACTIONS.items():
            pending = asyncio.ensure_future(
                http.post(f"{platform.http_url}/api/chargepoints/CP-A/ocpp/{action}", json=request)
            )
            frame = json.loads(await ws.receive_str(timeout=5))
            assert frame[2:] == [action, request], action
            await ws.send_str(json.dumps([3, frame[1], answer]))
            response = await pending
            assert response.status == 200, (action, await response.text())
            assert await response.json() == answer, action
        # what GetVariables and SetVariables confirmed is now in the stored device model
        async with http.get(f"{platform.http_url}/api/chargepoints/CP-A/variables") as response:
            variables = {(v["component"], v["variable"]): v["value"] for v in await response.json()}
        assert variables[("SmartChargingCtrlr", "RateUnit")] == "A"
        assert variables[("OCPPCommCtrlr", "HeartbeatInterval")] == "60"
        await ws.close()


async def test_local_list_in_201_shape(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await connect_201(http, platform)
        pending = asyncio.ensure_future(http.post(f"{platform.http_url}/api/chargepoints/CP-A/local-list"))
        asked = json.loads(await ws.receive_str(timeout=5))
        assert asked[2:] == ["GetLocalListVersion", {}]
        await ws.send_str(json.dumps([3, asked[1], {"versionNumber": 0}]))
        frame = json.loads(await ws.receive_str(timeout=5))
        assert frame[2] == "SendLocalList"
        assert frame[3]["updateType"] == "Full"
        tokens = {e["idToken"]["idToken"]: e["idTokenInfo"]["status"] for e in frame[3]["localAuthorizationList"]}
        assert tokens == {"TAG-OK": "Accepted", "TAG-BLOCKED": "Blocked"}
        await ws.send_str(json.dumps([3, frame[1], {"status": "Accepted"}]))
        assert (await pending).status == 200
        await ws.close()
