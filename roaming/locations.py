"""Sites, chargers and connectors as OCPI 2.2.1 Locations, EVSEs and Connectors (module Locations; pure).

A site is a Location; each of its chargers one EVSE (`uid` = the charge point id, as the CDRs of
billing/cdr.py name it in `cdr_location.evse_uid`); each OCPP connector (1.6) or EVSE (2.0.1) of a charger
one Connector (`id` = its number). An EVSE's status is the best of its connectors' (one free connector
makes it AVAILABLE); a charger that is not connected is UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roaming.envelope import iso

# OCPP connector status (1.6 ChargePointStatus, 2.0.1 ConnectorStatusEnumType) -> OCPI EVSE Status
OCPP_TO_OCPI = {
    "Available": "AVAILABLE",
    "Preparing": "CHARGING",
    "Charging": "CHARGING",
    "SuspendedEV": "CHARGING",
    "SuspendedEVSE": "CHARGING",
    "Finishing": "CHARGING",
    "Occupied": "CHARGING",
    "Reserved": "RESERVED",
    "Unavailable": "INOPERATIVE",
    "Faulted": "OUTOFORDER",
}
# the best first: what an EVSE with several connectors shows
PRECEDENCE = ("AVAILABLE", "CHARGING", "RESERVED", "BLOCKED", "INOPERATIVE", "OUTOFORDER", "UNKNOWN")


@dataclass(frozen=True, slots=True)
class Place:
    """Where a site is, as OCPI asks of a Location (from the [ocpi] settings)."""

    name: str
    address: str
    city: str
    country: str  # ISO 3166-1 alpha-3
    latitude: float
    longitude: float
    time_zone: str = "UTC"
    postal_code: str | None = None


@dataclass(frozen=True, slots=True)
class ChargerFacts:
    id: str
    site_id: str
    connected: bool
    connectors: Mapping[int, str]  # OCPP connector (1.6) or EVSE (2.0.1) id -> OCPP status
    phases: int
    max_current_a: float
    last_updated: datetime


def evse_status(connected: bool, statuses: Sequence[str]) -> str:
    if not connected:
        return "UNKNOWN"
    mapped = {OCPP_TO_OCPI.get(s, "UNKNOWN") for s in statuses} or {"UNKNOWN"}
    return min(mapped, key=PRECEDENCE.index)


def connector_object(
    connector_id: int, charger: ChargerFacts, tariff_ids: Sequence[str], voltage_v: float = 230.0
) -> dict[str, Any]:
    phases = 3 if charger.phases >= 3 else 1
    out: dict[str, Any] = {
        "id": str(connector_id),
        "standard": "IEC_62196_T2",
        "format": "SOCKET",
        "power_type": "AC_3_PHASE" if phases == 3 else "AC_1_PHASE",
        "max_voltage": int(voltage_v),
        "max_amperage": int(charger.max_current_a),
        "max_electric_power": int(voltage_v * charger.max_current_a * phases),
        "last_updated": iso(charger.last_updated),
    }
    if tariff_ids:
        out["tariff_ids"] = list(tariff_ids)
    return out


def evse_object(charger: ChargerFacts, tariff_ids: Sequence[str], voltage_v: float = 230.0) -> dict[str, Any]:
    ids = sorted(k for k in charger.connectors if k > 0) or [1]  # 1.6 connector 0 is the charger itself
    return {
        "uid": charger.id,
        "status": evse_status(charger.connected, [charger.connectors.get(k, "") for k in ids]),
        "capabilities": ["REMOTE_START_STOP_CAPABLE", "RESERVABLE", "UNLOCK_CAPABLE"],
        "connectors": [connector_object(k, charger, tariff_ids, voltage_v) for k in ids],
        "last_updated": iso(charger.last_updated),
    }


def location_object(
    site_id: str,
    place: Place,
    chargers: Sequence[ChargerFacts],
    *,
    party: tuple[str, str],
    tariff_ids: Sequence[str] = (),
    voltage_v: float = 230.0,
    updated: datetime,
) -> dict[str, Any]:
    country, party_id = party
    evses = [evse_object(c, tariff_ids, voltage_v) for c in sorted(chargers, key=lambda c: c.id)]
    last = max([updated, *(c.last_updated for c in chargers)])
    out: dict[str, Any] = {
        "country_code": country,
        "party_id": party_id,
        "id": site_id,
        "publish": True,
        "name": place.name,
        "address": place.address,
        "city": place.city,
        "country": place.country,
        "coordinates": {"latitude": f"{place.latitude:.6f}", "longitude": f"{place.longitude:.6f}"},
        "evses": evses,
        "time_zone": place.time_zone,
        "last_updated": iso(last),
    }
    if place.postal_code:
        out["postal_code"] = place.postal_code
    return out


def cdr_location(site_id: str, place: Place, charger_id: str, connector_id: int, voltage_v: float = 230.0,
                 phases: int = 3, max_current_a: float = 16.0) -> dict[str, Any]:  # fmt: skip
    """The CdrLocation of a session at this place (OCPI 2.2.1 CDR `cdr_location`)."""
    out: dict[str, Any] = {
        "id": site_id,
        "name": place.name,
        "address": place.address,
        "city": place.city,
        "country": place.country,
        "coordinates": {"latitude": f"{place.latitude:.6f}", "longitude": f"{place.longitude:.6f}"},
        "evse_uid": charger_id,
        "evse_id": f"{charger_id}*{connector_id}",
        "connector_id": str(connector_id),
        "connector_standard": "IEC_62196_T2",
        "connector_format": "SOCKET",
        "connector_power_type": "AC_3_PHASE" if phases >= 3 else "AC_1_PHASE",
    }
    if place.postal_code:
        out["postal_code"] = place.postal_code
    return out
