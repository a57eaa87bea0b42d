"""Every charger-initiated action the central system handles is answered within the response schema (issue 23).

For each action of Session201.handlers and of OCPP 2.0.1's charging-station-initiated messages (and of
Session16.handlers), a schema-valid request built from the
request schema goes over a real WebSocket; the CallResult must validate against the response schema.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chargepoints.v16 import Session16
from chargepoints.v201 import Session201
from chargepoints.validation import schema, validator
from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.ocpp_client import connected

TIMESTAMP = "2026-03-01T11:00:00Z"
# OCPP 2.0.1's charging-station-initiated messages: with what Session201 handles, every one is tested
INITIATED_201 = {
    "Authorize", "BootNotification", "ClearedChargingLimit", "DataTransfer", "FirmwareStatusNotification",
    "Get15118EVCertificate", "GetCertificateStatus", "Heartbeat", "LogStatusNotification", "MeterValues",
    "NotifyChargingLimit", "NotifyCustomerInformation", "NotifyDisplayMessages", "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule", "NotifyEvent", "NotifyMonitoringReport", "NotifyReport",
    "PublishFirmwareStatusNotification", "ReportChargingProfiles", "ReservationStatusUpdate",
    "SecurityEventNotification", "SignCertificate", "StatusNotification", "TransactionEvent",
}  # fmt: skip


def minimal(node: dict[str, Any], definitions: dict[str, Any]) -> Any:
    """The smallest instance of a JSON schema: required properties only, first enum values, one array item."""
    if "$ref" in node:
        return minimal(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object":
        properties = node.get("properties", {})
        return {name: minimal(properties[name], definitions) for name in node.get("required", [])}
    if kind == "array":
        return [minimal(node["items"], definitions) for _ in range(max(1, node.get("minItems", 1)))]
    if kind == "string":
        return TIMESTAMP if node.get("format") == "date-time" else "x" * max(1, node.get("minLength", 1))
    if kind == "integer":
        return int(max(1, node.get("minimum", 1)))
    if kind == "number":
        return float(max(1, node.get("minimum", 1)))
    if kind == "boolean":
        return False
    raise AssertionError(f"no minimal instance for {node}")


def request_for(version: str, action: str) -> dict[str, Any]:
    request_schema = schema(version, action)
    payload = minimal(request_schema, request_schema.get("definitions", {}))
    validator(version, action)(payload)  # the request itself is valid
    assert isinstance(payload, dict)
    return payload


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(make_settings(tmp_path)) as running:
        yield running


@pytest.mark.parametrize(
    ("version", "action"),
    [("2.0.1", action) for action in sorted(INITIATED_201 | set(Session201.handlers))]
    + [("1.6", action) for action in sorted(Session16.handlers)],
)
async def test_every_charger_initiated_action_is_answered_within_the_response_schema(
    platform: Platform, version: str, action: str
) -> None:
    payload = request_for(version, action)
    async with connected(platform, "CP-A", version) as client:
        answer = await client.call("req-1", action, payload)
        assert answer[:2] == [3, "req-1"], answer
        validator(version, action, response=True)(answer[2])
        await client.alive()
