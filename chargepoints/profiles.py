"""Translate a limit into OCPP 1.6 charging-profile payloads (pure).

Profile ids are fixed per purpose so that each new limit replaces the last
one instead of piling up profiles on the charger. TxDefaultProfile sits at
stack level 0 (the safe fallback installed at boot); TxProfile, bound to a
transaction, always takes precedence over it in OCPP 1.6.
"""

from __future__ import annotations

from typing import Any, Literal

TX_PROFILE_ID = 1
TX_DEFAULT_PROFILE_ID = 2
TX_STACK_LEVEL = 1
DEFAULT_STACK_LEVEL = 0

Unit = Literal["A", "W"]


def _schedule(limit: float, unit: Unit, phases: int | None) -> dict[str, Any]:
    period: dict[str, Any] = {"startPeriod": 0, "limit": round(float(limit), 1)}
    if phases:
        period["numberPhases"] = phases
    return {"chargingRateUnit": unit, "chargingSchedulePeriod": [period]}


def tx_profile_16(
    connector_id: int,
    limit: float,
    transaction_id: int | None,
    phases: int | None = None,
    *,
    unit: Unit = "A",
) -> dict[str, Any]:
    """A SetChargingProfile.req payload capping one connector at `limit` (A or W).

    With a transaction id the profile is a TxProfile bound to it; without one
    a TxDefaultProfile for that connector, which also applies to the next
    transaction.
    """
    bound = transaction_id is not None
    profile: dict[str, Any] = {
        "chargingProfileId": TX_PROFILE_ID if bound else TX_DEFAULT_PROFILE_ID,
        "stackLevel": TX_STACK_LEVEL if bound else DEFAULT_STACK_LEVEL,
        "chargingProfilePurpose": "TxProfile" if bound else "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": _schedule(limit, unit, phases),
    }
    if bound:
        profile["transactionId"] = transaction_id
    return {"connectorId": connector_id, "csChargingProfiles": profile}


def tx_default_profile_16(limit: float, *, unit: Unit = "A") -> dict[str, Any]:
    """The charger-wide safe default (connector 0), installed at boot."""
    return tx_profile_16(0, limit, None, unit=unit)


def tx_profile_201(
    evse_id: int,
    limit: float,
    transaction_id: str | None,
    phases: int | None = None,
    *,
    unit: Unit = "A",
) -> dict[str, Any]:
    """An OCPP 2.0.1 SetChargingProfileRequest capping one EVSE (TxProfile, or TxDefaultProfile when idle)."""
    bound = transaction_id is not None
    schedule = {"id": 1, **_schedule(limit, unit, phases)}
    profile: dict[str, Any] = {
        "id": TX_PROFILE_ID if bound else TX_DEFAULT_PROFILE_ID,
        "stackLevel": TX_STACK_LEVEL if bound else DEFAULT_STACK_LEVEL,
        "chargingProfilePurpose": "TxProfile" if bound else "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [schedule],
    }
    if bound:
        profile["transactionId"] = transaction_id
    return {"evseId": evse_id, "chargingProfile": profile}


def tx_default_profile_201(limit: float, *, unit: Unit = "A") -> dict[str, Any]:
    """The station-wide safe default (EVSE 0), installed at boot."""
    return tx_profile_201(0, limit, None, unit=unit)
