"""Translate a current limit into OCPP 1.6 charging-profile payloads (pure)."""

from __future__ import annotations

from typing import Any

TX_PROFILE_ID = 1
TX_DEFAULT_PROFILE_ID = 2
STACK_LEVEL = 0


def tx_profile_16(
    connector_id: int, limit_a: float, transaction_id: int | None, phases: int | None = None
) -> dict[str, Any]:
    """A SetChargingProfile.req payload capping one connector at `limit_a` amperes.

    With a transaction id the profile is a TxProfile bound to it; without one a
    TxDefaultProfile, which also applies to the next transaction.
    """
    period: dict[str, Any] = {"startPeriod": 0, "limit": round(float(limit_a), 1)}
    if phases:
        period["numberPhases"] = phases
    profile: dict[str, Any] = {
        "chargingProfileId": TX_PROFILE_ID if transaction_id is not None else TX_DEFAULT_PROFILE_ID,
        "stackLevel": STACK_LEVEL,
        "chargingProfilePurpose": "TxProfile" if transaction_id is not None else "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [period]},
    }
    if transaction_id is not None:
        profile["transactionId"] = transaction_id
    return {"connectorId": connector_id, "csChargingProfiles": profile}
