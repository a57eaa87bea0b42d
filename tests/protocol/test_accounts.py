"""Charging accounts and tariffs over REST, and a member's session priced end to end (issue 22, items 1-2):
a member's card starts a session on a charger; the session shows the member's account and its cost; the
account's summary agrees with the session to the cent. Raw OCPP 1.6J frames, real SQLite."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.ocpp_client import Client

TARIFF = {
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "FLAT", "price": 0.50, "vat": 21}]},
        {"price_components": [{"type": "ENERGY", "price": 0.30, "green_price": 0.15, "vat": 21}]},
    ],
}


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(
        tmp_path,
        cooperatives=[{"id": "coop-1", "members": [{"id": "m1"}]}, {"id": "coop-2", "members": [{"id": "m2"}]}],
        sites=[{"id": "site-a", "grid_limit_a": 32.0, "cooperative_id": "coop-1"}],
    )
    async with running_platform(settings) as running:
        yield running


def pdf_text(pdf: bytes) -> str:
    """The text drawn in a PDF's (deflated) page streams, as the page's show-text operators hold it."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL)
    return "".join(zlib.decompress(s).decode("latin-1") if s[:1] == b"x" else s.decode("latin-1") for s in streams)


async def rest(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with http.request(method, url, json=body) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None


async def charge(platform: Platform, id_tag: str, meter_start: int, energy_wh: int) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{platform.ocpp_url}/CP-A", protocols=("ocpp1.6",)) as ws,
    ):
        client = Client(ws)
        await client.call("b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        t0 = datetime.now(UTC).replace(microsecond=0)
        start = {"connectorId": 1, "idTag": id_tag, "meterStart": meter_start, "timestamp": t0.isoformat()}
        started = await client.call("s", "StartTransaction", start)
        transaction_id = int(started[2]["transactionId"])
        stop = {"transactionId": transaction_id, "meterStop": meter_start + energy_wh,
                "timestamp": (t0 + timedelta(minutes=20)).isoformat()}  # fmt: skip
        assert (await client.call("t", "StopTransaction", stop))[0] == 3
        return transaction_id


async def test_a_members_card_session_shows_its_account_and_cost_and_the_summary_agrees(platform: Platform) -> None:
    api = f"{platform.http_url}/api"
    async with aiohttp.ClientSession() as http:
        account = {"id": "anna", "name": "Anna", "kind": "member", "cooperative_id": "coop-1", "member_id": "m1"}
        assert (await rest(http, "POST", f"{api}/accounts", account))[0] == 201
        assert (await rest(http, "POST", f"{api}/accounts", account))[0] == 409
        status, refused = await rest(http, "POST", f"{api}/accounts", {**account, "id": "bob", "member_id": "m2"})
        assert (status, refused["error"]["code"]) == (422, "UnknownMember")
        assert refused["error"]["message"].startswith("member_id:")
        status, refused = await rest(http, "PUT", f"{api}/id-tags/CARD-X", {"status": "Accepted", "account_id": "no"})
        assert status == 422
        assert refused["error"]["message"].startswith("account_id:")
        tag = {"status": "Accepted", "account_id": "anna"}
        assert (await rest(http, "PUT", f"{api}/id-tags/CARD-ANNA", tag))[0] == 201
        assert (await rest(http, "GET", f"{api}/accounts/anna"))[1]["id_tags"] == ["CARD-ANNA"]

        bad = {"tariff": {**TARIFF, "elements": [{"price_components": [{"type": "ENERGY", "price": "x"}]}]}}
        status, refused = await rest(http, "PUT", f"{api}/tariffs/member", bad)
        assert status == 422
        assert refused["error"]["message"] == "tariff.elements.0.price_components.0.price: expected a number"
        body = {"cooperative_id": "coop-1", "audience": "member", "tariff": TARIFF}
        assert (await rest(http, "PUT", f"{api}/tariffs/member", body))[0] == 201
        guest = {"audience": "guest", "tariff": {"currency": "EUR", "elements": [
            {"price_components": [{"type": "ENERGY", "price": 0.45}]}]}}  # fmt: skip
        assert (await rest(http, "PUT", f"{api}/tariffs/guest", guest))[0] == 201

        member_session = await charge(platform, "CARD-ANNA", 1000, 5000)
        guest_session = await charge(platform, "TAG-OK", 6000, 2000)  # a configured tag with no account

        _, session = await rest(http, "GET", f"{api}/sessions/{member_session}")
        assert session["account_id"] == "anna"
        cost = session["cost"]
        # no sun: 5 kWh of grid energy at 0.30 = 1.50, flat 0.50; VAT 21 % of 2.00 = 0.42
        assert (cost["tariff_id"], cost["energy"], cost["flat"], cost["excl_vat"]) == ("member", "1.50", "0.50", "2.00")
        assert (cost["vat"], cost["incl_vat"], cost["currency"]) == ("0.42", "2.42", "EUR")
        _, other = await rest(http, "GET", f"{api}/sessions/{guest_session}")
        assert other["account_id"] is None
        assert (other["cost"]["tariff_id"], other["cost"]["incl_vat"]) == ("guest", "0.90")

        _, summary = await rest(http, "GET", f"{api}/accounts/anna/summary")
        assert (summary["sessions"], summary["energy_wh"], summary["cost"]) == (1, 5000.0, {"EUR": "2.42"})
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
        async with http.get(f"{api}/accounts/anna/summary", params={"from": later}) as response:
            assert (await response.json())["sessions"] == 0

        # the accounting closes the sessions' minutes: each priced session gets its CDR, immutable
        await platform.energy.flush(final=True)
        _, cdrs = await rest(http, "GET", f"{api}/cdrs?account=anna")
        assert len(cdrs) == 1
        cdr = cdrs[0]["cdr"]
        assert (cdr["session_id"], cdr["currency"], cdr["total_energy"]) == (str(member_session), "EUR", 5.0)
        assert cdr["total_cost"] == {"excl_vat": 2.0, "incl_vat": 2.42}  # the session's cost, to the cent
        assert (cdr["cdr_token"]["contract_id"], cdr["tariffs"][0]["id"], cdr["credit"]) == ("anna", "member", False)
        assert sum(d["volume"] for p in cdr["charging_periods"] for d in p["dimensions"] if d["type"] == "ENERGY") == 5
        assert (await rest(http, "GET", f"{api}/sessions/{member_session}"))[1]["cost"]["cdr_id"] == cdrs[0]["id"]

        month = datetime.now(UTC).strftime("%Y-%m")
        _, document = await rest(http, "GET", f"{api}/accounts/anna/statement?month={month}")
        assert [line["incl_vat"] for line in document["lines"]] == ["2.42"]
        assert document["totals"] == {"EUR": {"excl_vat": "2.00", "vat": "0.42", "incl_vat": "2.42"}}

        # a tariff changed afterwards changes no issued CDR; a correction is a credit CDR and a new one
        body["tariff"] = {**TARIFF, "elements": [{"price_components": [{"type": "ENERGY", "price": 0.20}]}]}
        assert (await rest(http, "PUT", f"{api}/tariffs/member", body))[0] == 200
        assert (await rest(http, "GET", f"{api}/sessions/{member_session}"))[1]["cost"]["incl_vat"] == "2.42"
        status, corrected = await rest(http, "POST", f"{api}/cdrs/{cdrs[0]['id']}/credit", {"reissue": True})
        assert status == 201
        assert corrected["credit"]["cdr"]["total_cost"] == {"excl_vat": -2.0, "incl_vat": -2.42}
        assert corrected["credit"]["cdr"]["credit_reference_id"] == cdrs[0]["id"]
        assert corrected["replacement"]["cost"]["incl_vat"] == "1.00"  # 5 kWh at 0.20, no VAT in the new one
        assert (await rest(http, "POST", f"{api}/cdrs/{cdrs[0]['id']}/credit", {}))[0] == 409  # once only
        assert (await rest(http, "GET", f"{api}/sessions/{member_session}"))[1]["cost"]["incl_vat"] == "1.00"
        _, document = await rest(http, "GET", f"{api}/accounts/anna/statement?month={month}")
        assert [line["incl_vat"] for line in document["lines"]] == ["2.42", "-2.42", "1.00"]
        assert document["totals"]["EUR"]["incl_vat"] == "1.00"
        async with http.get(f"{api}/accounts/anna/statement", params={"month": month, "format": "csv"}) as response:
            rows = (await response.text()).splitlines()
        assert rows[0].startswith("cdr_id,credit,session_id")
        assert len(rows) == 4
        async with http.get(f"{api}/accounts/anna/statement", params={"month": month, "format": "html"}) as response:
            page = await response.text()
        assert response.content_type == "text/html"
        assert "Charging statement" in page
        assert "-2.42" in page
        async with http.get(f"{api}/accounts/anna/statement", params={"month": month, "format": "pdf"}) as response:
            pdf = await response.read()
        assert response.content_type == "application/pdf"
        assert pdf.startswith(b"%PDF-")
        text = pdf_text(pdf)
        assert f"Charging statement {month}" in text
        for line in document["lines"]:  # each CDR's line, to the cent
            assert f"({line['incl_vat']})" in text
        total = document["totals"]["EUR"]
        assert f"Total EUR: {total['excl_vat']} excl. VAT, {total['vat']} VAT, {total['incl_vat']} incl. VAT" in text
        assert (await rest(http, "GET", f"{api}/accounts/anna/statement?month=2026-13"))[0] == 422
