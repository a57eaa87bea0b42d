"""Sessions, CDRs and tariffs as OCPI 2.2.1 objects (modules Sessions, CDRs, Tariffs; pure).

CDRs are billing/cdr.py's, issued once per finished session: here they are only given what OCPI asks of
them towards a partner (the partner's token in `cdr_token`, the place in `cdr_location`, how the session
was authorized). Tariffs are billing/tariff.py's OCPI Tariffs, shown without CoopGrid's `green_price`
extension. CoopGrid's `green_energy` (kWh of the energy that was green) stays in CDRs, an extra field
partners may ignore.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billing.tariff import parse_tariff
from roaming.envelope import iso
from roaming.tokens import Token


@dataclass(frozen=True, slots=True)
class SessionFacts:
    session_id: str
    charge_point_id: str
    connector_id: int
    site_id: str
    token: Token
    start: datetime
    stop: datetime | None
    energy_wh: float
    currency: str
    last_updated: datetime
    auth_method: str = "WHITELIST"  # COMMAND when started by START_SESSION
    authorization_reference: str | None = None
    total_cost: tuple[float, float] | None = None  # (excl. VAT, incl. VAT) so far, in `currency`


def cdr_token(token: Token) -> dict[str, Any]:
    return {
        "country_code": token.country_code,
        "party_id": token.party_id,
        "uid": token.uid,
        "type": token.type,
        "contract_id": token.contract_id,
    }


def session_object(facts: SessionFacts, party: tuple[str, str]) -> dict[str, Any]:
    country, party_id = party
    out: dict[str, Any] = {
        "country_code": country,
        "party_id": party_id,
        "id": facts.session_id,
        "start_date_time": iso(facts.start),
        "kwh": round(max(facts.energy_wh, 0.0) / 1000, 3),
        "cdr_token": cdr_token(facts.token),
        "auth_method": facts.auth_method,
        "location_id": facts.site_id,
        "evse_uid": facts.charge_point_id,
        "connector_id": str(facts.connector_id),
        "currency": facts.currency,
        "status": "ACTIVE" if facts.stop is None else "COMPLETED",
        "last_updated": iso(facts.last_updated),
    }
    if facts.stop is not None:
        out["end_date_time"] = iso(facts.stop)
    if facts.authorization_reference:
        out["authorization_reference"] = facts.authorization_reference
    if facts.total_cost is not None:
        out["total_cost"] = {"excl_vat": facts.total_cost[0], "incl_vat": facts.total_cost[1]}
    return out


def session_patch(facts: SessionFacts) -> dict[str, Any]:
    """What changes while a session runs and when it ends: a PATCH body."""
    whole = session_object(facts, ("", ""))
    keys = ("kwh", "status", "last_updated", "end_date_time", "currency", "total_cost")
    return {k: whole[k] for k in keys if k in whole}


def cdr_object(
    cdr: Mapping[str, Any],
    token: Token,
    location: Mapping[str, Any],
    *,
    auth_method: str = "WHITELIST",
    authorization_reference: str | None = None,
) -> dict[str, Any]:
    """A CDR of billing/cdr.py as a partner is sent it."""
    out = dict(cdr)
    out["cdr_token"] = cdr_token(token)
    out["cdr_location"] = dict(location)
    out["auth_method"] = auth_method
    out["tariffs"] = [tariff_object(t, (cdr["country_code"], cdr["party_id"]), cdr["last_updated"])
                      for t in cdr.get("tariffs", [])]  # fmt: skip
    if authorization_reference:
        out["authorization_reference"] = authorization_reference
    return out


def tariff_object(tariff: Mapping[str, Any], party: tuple[str, str], last_updated: str) -> dict[str, Any]:
    """A stored OCPI Tariff (billing/tariff.py checks it) as partners see it: this CPO's party, no
    `green_price`."""
    parse_tariff(tariff)  # a stored tariff is valid; raises TariffError otherwise
    country, party_id = party
    out = {k: v for k, v in tariff.items() if k not in ("country_code", "party_id", "last_updated")}
    out["elements"] = [
        {
            **element,
            "price_components": [
                {k: v for k, v in component.items() if k != "green_price"} for component in element["price_components"]
            ],
        }
        for element in tariff["elements"]
    ]
    return {"country_code": country, "party_id": party_id, **out, "last_updated": tariff.get("last_updated",
            last_updated)}  # fmt: skip
