"""Charge detail records in the OCPI 2.2.1 model (module CDRs), built once per finished session (pure).

A CDR lists its charging periods (the session's 15-minute slots, each with its ENERGY volume and, while
parked after charging, PARKING_TIME), the tariff applied, and totals from billing.tariff.session_cost, so
that the CDR, the session and the statement agree to the cent. CoopGrid's extension: `green_energy`, the kWh
of `total_energy` the cooperative's green accounting found green, per period and in all. A credit CDR
(OCPI `credit`, `credit_reference_id`) cancels one: the same periods, the totals negated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from billing.tariff import Cost, Interval


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What a CDR says about its session."""

    session_id: str  # the operator-facing id (1.6: ours; 2.0.1: the station's)
    charge_point_id: str
    connector_id: int
    site_id: str | None
    id_tag: str
    account_id: str | None
    start: datetime
    stop: datetime
    energy_wh: float
    green_wh: float


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _kwh(wh: float) -> float:
    return round(wh / 1000, 3)


def _money(excl: Decimal, incl: Decimal | None = None) -> dict[str, float]:
    return {"excl_vat": float(excl)} if incl is None else {"excl_vat": float(excl), "incl_vat": float(incl)}


def build_cdr(
    cdr_id: str,
    facts: SessionFacts,
    intervals: Sequence[Interval],
    cost: Cost,
    tariff: Mapping[str, Any],
    *,
    party: tuple[str, str],
    issued: datetime,
) -> dict[str, Any]:
    """An OCPI 2.2.1 CDR object. `party`: (country_code, party_id) of this CPO; `tariff`: the OCPI Tariff
    object it was priced at (listed in the CDR as OCPI asks)."""
    periods = [
        {
            "start_date_time": _iso(i.start),
            "dimensions": [{"type": "ENERGY", "volume": _kwh(i.energy_wh)}],
            "tariff_id": tariff.get("id"),
            "green_energy": _kwh(i.green_wh),
        }
        for i in intervals
        if i.energy_wh > 0
    ]
    charging_until = max((i.start + timedelta(seconds=i.seconds) for i in intervals if i.energy_wh > 0),
                         default=facts.start)  # fmt: skip
    charging_until = min(charging_until, facts.stop)
    parking_h = max(0.0, (facts.stop - charging_until).total_seconds() / 3600)
    if parking_h > 0:
        periods.append({
            "start_date_time": _iso(charging_until),
            "dimensions": [{"type": "PARKING_TIME", "volume": round(parking_h, 4)}],
            "tariff_id": tariff.get("id"),
        })  # fmt: skip
    country, party_id = party
    return {
        "country_code": country,
        "party_id": party_id,
        "id": cdr_id,
        "start_date_time": _iso(facts.start),
        "end_date_time": _iso(facts.stop),
        "session_id": facts.session_id,
        "cdr_token": {
            "country_code": country,
            "party_id": party_id,
            "uid": facts.id_tag,
            "type": "RFID",
            "contract_id": facts.account_id or facts.id_tag,
        },  # fmt: skip
        "auth_method": "WHITELIST",
        "cdr_location": {
            "id": facts.site_id or "",
            "evse_uid": facts.charge_point_id,
            "evse_id": f"{facts.charge_point_id}*{facts.connector_id}",
            "connector_id": str(facts.connector_id),
        },
        "currency": cost.currency,
        "tariffs": [dict(tariff)],
        "charging_periods": periods,
        "total_cost": _money(cost.excl_vat, cost.incl_vat),
        "total_fixed_cost": _money(cost.flat),
        "total_energy": _kwh(facts.energy_wh),
        "total_energy_cost": _money(cost.energy),
        "total_time": round((facts.stop - facts.start).total_seconds() / 3600, 4),
        "total_parking_time": round(parking_h, 4),
        "total_parking_cost": _money(cost.parking),
        "green_energy": _kwh(facts.green_wh),
        "credit": False,
        "last_updated": _iso(issued),
    }


def credit_of(cdr: Mapping[str, Any], credit_id: str, issued: datetime) -> dict[str, Any]:
    """The credit CDR that cancels `cdr`: the same session and periods, every total negated."""
    out = dict(cdr)
    for key in ("total_cost", "total_fixed_cost", "total_energy_cost", "total_parking_cost"):
        if isinstance(cdr.get(key), Mapping):
            out[key] = {k: -float(v) for k, v in cdr[key].items()}
    out.update(id=credit_id, credit=True, credit_reference_id=cdr["id"], last_updated=_iso(issued))
    return out
