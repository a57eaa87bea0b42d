"""OCPI 2.2.1 CDRs from a session's slots and cost (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billing.cdr import SessionFacts, build_cdr, credit_of
from billing.tariff import Interval, parse_tariff, session_cost

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
TARIFF = {"id": "t", "currency": "EUR", "elements": [
    {"price_components": [{"type": "ENERGY", "price": 0.3}]},
    {"price_components": [{"type": "PARKING_TIME", "price": 3.0}]},
]}  # fmt: skip


def test_periods_totals_parking_and_its_credit() -> None:
    intervals = [Interval(T0, 900, 2000.0, 500.0), Interval(T0 + timedelta(minutes=15), 900, 1000.0, 0.0)]
    stop = T0 + timedelta(hours=1)
    cost = session_cost(parse_tariff(TARIFF), T0, stop, intervals)
    facts = SessionFacts("17", "CP-1", 2, "site-a", "CARD", "anna", T0, stop, 3000.0, 500.0)
    cdr = build_cdr("CG17-1", facts, intervals, cost, TARIFF, party=("NL", "CGR"), issued=stop)
    assert [p["dimensions"][0] for p in cdr["charging_periods"]] == [
        {"type": "ENERGY", "volume": 2.0}, {"type": "ENERGY", "volume": 1.0}, {"type": "PARKING_TIME", "volume": 0.5},
    ]  # fmt: skip
    assert cdr["total_cost"] == {"excl_vat": 2.4, "incl_vat": 2.4}  # 0.90 energy + 1.50 parking (30 min at 3/h)
    assert (cdr["total_energy"], cdr["green_energy"], cdr["total_parking_time"]) == (3.0, 0.5, 0.5)
    assert cdr["cdr_location"] == {"id": "site-a", "evse_uid": "CP-1", "evse_id": "CP-1*2", "connector_id": "2"}
    assert (cdr["country_code"], cdr["party_id"], cdr["end_date_time"]) == ("NL", "CGR", "2026-12-02T10:00:00Z")
    credit = credit_of(cdr, "CG17-2C", stop)
    assert credit["total_cost"] == {"excl_vat": -2.4, "incl_vat": -2.4}
    assert (credit["credit"], credit["credit_reference_id"], credit["id"]) == (True, "CG17-1", "CG17-2C")
    assert credit["charging_periods"] == cdr["charging_periods"]
    assert cdr["credit"] is False  # the original is not touched
