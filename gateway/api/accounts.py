"""Charging accounts (members and guests owning id tags, and through them sessions) and tariffs."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from billing.tariff import TariffError, parse_tariff
from gateway.api.access import tenancy
from gateway.api.context import api, error, iso
from gateway.api.params import invalid_query, read_body, time_query
from gateway.api.sessions import session_view
from gateway.api.station_tariffs import tell_stations
from gateway.api.table import COOPERATIVE, Route, Scope
from gateway.api_models import AccountBody, AccountSummaryView, AccountView, CreditBody, TariffBody, TariffView
from gateway.pricing import Pricing, correct_cdr
from gateway.statements import STATEMENT_COLUMNS, statement_html, statement_pdf


def _sees(request: web.Request, account: dict[str, Any] | None) -> bool:
    seen = tenancy(request)
    return account is not None and (seen.everything or account["cooperative_id"] == seen.cooperative_id)


async def list_accounts(request: web.Request) -> web.Response:
    seen = tenancy(request)
    only = None if seen.everything else ({seen.cooperative_id} if seen.cooperative_id else set())
    return web.json_response(await api(request).store.accounts.list_accounts(only))


async def get_account(request: web.Request) -> web.Response:
    account = await api(request).store.accounts.get_account(request.match_info["account_id"])
    if not _sees(request, account):
        return error(404, "NotFound", "no such account")
    return web.json_response(account)


async def create_account(request: web.Request) -> web.Response:
    """Operators for any cooperative; a cooperative token for its own (cooperative_id may be left out)."""
    context = api(request)
    body = await read_body(request, AccountBody)
    seen = tenancy(request)
    cooperative_id = body.cooperative_id
    if not seen.everything:
        cooperative_id = cooperative_id or seen.cooperative_id
        if cooperative_id != seen.cooperative_id:
            return error(403, "Forbidden", "cooperative_id: a cooperative token makes its own accounts only")
    known = {c.id: {m.id for m in c.members} for c in context.settings.cooperatives}
    if cooperative_id is not None and cooperative_id not in known:
        return error(422, "UnknownCooperative", f"cooperative_id: no cooperative {cooperative_id!r}")
    if body.member_id is not None and (cooperative_id is None or body.member_id not in known[cooperative_id]):
        return error(422, "UnknownMember", f"member_id: no member {body.member_id!r} of {cooperative_id!r}")
    existing = await context.store.accounts.get_account(body.id)
    if existing is not None:
        return error(409, "Exists", f"account {body.id!r} exists")
    await context.store.accounts.put_account({**body.model_dump(), "cooperative_id": cooperative_id})
    return web.json_response(await context.store.accounts.get_account(body.id), status=201)


async def delete_account(request: web.Request) -> web.Response:
    context = api(request)
    account = await context.store.accounts.get_account(request.match_info["account_id"])
    if not _sees(request, account):
        return error(404, "NotFound", "no such account")
    await context.store.accounts.delete_account(request.match_info["account_id"])
    return web.Response(status=204)


async def account_summary(request: web.Request) -> web.Response:
    """Per account and period (`from`/`to`, by session start): energy, green energy and cost, as the
    sessions' own views show them (the green accounting's, priced at each session's tariff)."""
    context = api(request)
    account_id = request.match_info["account_id"]
    account = await context.store.accounts.get_account(account_id)
    if not _sees(request, account):
        return error(404, "NotFound", "no such account")
    start, end = time_query(request, "from"), time_query(request, "to")
    records = await context.store.list_transactions(
        account_id=account_id, started_from=start, started_to=end, limit=1_000_000
    )
    pricing = await Pricing.load(context.store, context.ledger, records)
    views = [session_view(context, record, pricing) for record in records]
    energy = sum(v["energy_wh"] for v in views)
    green = sum(v["green_energy_wh"] for v in views)
    stored_parks = await context.store.accounts.session_parks([r.id for r in records if not r.active])
    by_park = context.green_by_park_wh(records, stored_parks)
    totals: dict[str, Any] = {}
    for view in views:
        if view["cost"] is not None:
            currency = view["cost"]["currency"]
            totals[currency] = totals.get(currency, Decimal(0)) + Decimal(view["cost"]["incl_vat"])
    return web.json_response({
        "account_id": account_id,
        "start": iso(start),
        "end": iso(end),
        "sessions": len(views),
        "energy_wh": round(energy, 1),
        "green_energy_wh": round(green, 1),
        "green_share": round(green / energy, 4) if energy > 0 else None,
        "green_energy_by_park_wh": {park: round(wh, 1) for park, wh in sorted(by_park.items())},
        "cost": {currency: str(total) for currency, total in sorted(totals.items())},
        "unpriced_sessions": sum(1 for v in views if v["cost"] is None),
    })  # fmt: skip


# -- tariffs ---------------------------------------------------------------------------------------------------
def _tariff_seen(tariff: dict[str, Any], sites: frozenset[str], cooperative_id: str | None) -> bool:
    if tariff["site_id"] is not None:
        return tariff["site_id"] in sites
    return tariff["cooperative_id"] in (None, cooperative_id)


async def list_tariffs(request: web.Request) -> web.Response:
    """A cooperative token: the tariffs for its cooperative, its sites, and those for every site."""
    seen = tenancy(request)
    tariffs = await api(request).store.accounts.list_tariffs()
    if not seen.everything:
        tariffs = [t for t in tariffs if _tariff_seen(t, seen.sites, seen.cooperative_id)]
    return web.json_response(tariffs)


async def put_tariff(request: web.Request) -> web.Response:
    """Sessions are priced at the tariff that applied when they started: a change prices new sessions."""
    context = api(request)
    tariff_id = request.match_info["tariff_id"]
    body = await read_body(request, TariffBody)
    try:
        parse_tariff({**body.tariff, "id": tariff_id}, timezone=body.timezone)
    except TariffError as exc:
        return error(422, "InvalidTariff", f"tariff.{exc}" if not str(exc).startswith("timezone") else str(exc))
    if body.cooperative_id is not None and body.cooperative_id not in {c.id for c in context.settings.cooperatives}:
        return error(422, "UnknownCooperative", f"cooperative_id: no cooperative {body.cooperative_id!r}")
    if body.site_id is not None and body.site_id not in context.world.sites:
        return error(422, "UnknownSite", f"site_id: no site {body.site_id!r}")
    created = await context.store.accounts.put_tariff(
        {"id": tariff_id, **body.model_dump(), "tariff": {**body.tariff, "id": tariff_id}}
    )
    stored = await context.store.accounts.get_tariff(tariff_id)
    told = await tell_stations(context, tariff_id)  # OCPP 2.1 stations whose default tariff it now is
    return web.json_response({**(stored or {}), "stations_told": told}, status=201 if created else 200)


async def delete_tariff(request: web.Request) -> web.Response:
    if not await api(request).store.accounts.delete_tariff(request.match_info["tariff_id"]):
        return error(404, "NotFound", "no such tariff")
    return web.Response(status=204)


_PERIOD = (("from", "date-time", "sessions started from"), ("to", "date-time", "sessions started before"))

ROUTES: tuple[Route, ...] = (
    Route("get", "/api/accounts", "accounts", list_accounts, "Charging accounts (a cooperative token: its own)",
          roles=COOPERATIVE, scope=Scope.ACCOUNT, response=AccountView, many=True, tag="accounts"),
    Route("post", "/api/accounts", "account-create", create_account, "Create a charging account",
          roles=COOPERATIVE, scope=Scope.ACCOUNT, body=AccountBody, response=AccountView, status=201,
          errors=(403, 409, 422), tag="accounts"),
    Route("get", "/api/accounts/{account_id}", "account", get_account, "One account with its id tags",
          roles=COOPERATIVE, scope=Scope.ACCOUNT, response=AccountView, errors=(404,), tag="accounts"),
    Route("delete", "/api/accounts/{account_id}", "account-delete", delete_account,
          "Delete an account (its id tags stay, owned by none; its sessions keep naming it)",
          roles=COOPERATIVE, scope=Scope.ACCOUNT, status=204, errors=(404,), tag="accounts"),
    Route("get", "/api/accounts/{account_id}/summary", "account-summary", account_summary,
          "An account's sessions in a period: energy, green energy, cost", roles=COOPERATIVE,
          scope=Scope.ACCOUNT, response=AccountSummaryView, errors=(404,), query=_PERIOD, tag="accounts"),
    Route("get", "/api/tariffs", "tariffs", list_tariffs, "Tariffs (OCPI 2.2.1 Tariff objects, where they apply)",
          roles=COOPERATIVE, scope=Scope.ACCOUNT, response=TariffView, many=True, tag="accounts"),
    Route("put", "/api/tariffs/{tariff_id}", "tariff-put", put_tariff, "Create or replace a tariff",
          body=TariffBody, response=TariffView, errors=(422,), tag="accounts", extra={"201": "created"}),
    Route("delete", "/api/tariffs/{tariff_id}", "tariff-delete", delete_tariff, "Delete a tariff",
          status=204, errors=(404,), tag="accounts"),
)  # fmt: skip


# -- charge detail records and statements -----------------------------------------------------------------------
async def _account_ids(request: web.Request) -> set[str] | None:
    """The accounts whose CDRs a token sees; None: all."""
    seen = tenancy(request)
    if seen.everything:
        return None
    accounts = await api(request).store.accounts.list_accounts({seen.cooperative_id} if seen.cooperative_id else set())
    return {a["id"] for a in accounts}


def _cdr_view(cdr: dict[str, Any]) -> dict[str, Any]:
    return {**cdr, "issued_at": iso(cdr["issued_at"]), "end": iso(cdr["end"])}


async def list_cdrs(request: web.Request) -> web.Response:
    """By session end; `account`, `from`/`to` (session end) filter; credits included."""
    seen_accounts = await _account_ids(request)
    account_id = request.query.get("account") or None
    if account_id is not None and seen_accounts is not None and account_id not in seen_accounts:
        return web.json_response([])
    cdrs = await api(request).store.cdrs.list(
        account_id=account_id, account_ids=seen_accounts, start=time_query(request, "from"),
        end=time_query(request, "to"),
    )  # fmt: skip
    return web.json_response([_cdr_view(c) for c in cdrs])


async def get_cdr(request: web.Request) -> web.Response:
    cdr = await api(request).store.cdrs.get(request.match_info["cdr_id"])
    seen_accounts = await _account_ids(request)
    if cdr is None or (seen_accounts is not None and cdr["account_id"] not in seen_accounts):
        return error(404, "NotFound", "no such CDR")
    return web.json_response(_cdr_view(cdr))


async def credit_cdr(request: web.Request) -> web.Response:
    """A correction: a credit CDR cancelling this one and, with `reissue`, a new one at the session's tariff
    as it stands now. Issued CDRs are never changed."""
    context = api(request)
    body = await read_body(request, CreditBody)
    billing = context.settings.billing
    try:
        credit, replacement = await correct_cdr(
            context.store, request.match_info["cdr_id"], party=(billing.country_code, billing.party_id),
            now=context.clock(), reissue=body.reissue,
        )  # fmt: skip
    except LookupError:
        return error(404, "NotFound", "no such CDR")
    except ValueError as exc:
        return error(409, "NotCreditable", str(exc))
    return web.json_response(
        {"credit": _cdr_view(credit), "replacement": _cdr_view(replacement) if replacement else None}, status=201
    )


def _month(request: web.Request) -> tuple[datetime, datetime, str]:
    text = request.query.get("month") or f"{api(request).clock():%Y-%m}"
    try:
        start = datetime.strptime(text, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise invalid_query("month: expected YYYY-MM") from None
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end, text


async def statement(request: web.Request) -> web.StreamResponse:
    """An account's monthly statement: its CDRs (credits included) of sessions ended in `month` (UTC),
    with totals per currency and the green energy of its sessions by park (each session once: its standing
    CDR's); `format` json (default), csv, html (a printable page) or pdf."""
    context = api(request)
    account_id = request.match_info["account_id"]
    account = await context.store.accounts.get_account(account_id)
    if not _sees(request, account):
        return error(404, "NotFound", "no such account")
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv", "html", "pdf"):
        raise invalid_query("format: json, csv, html or pdf")
    start, end, month = _month(request)
    lines = []
    totals: dict[str, dict[str, Decimal]] = {}
    cdrs = await context.store.cdrs.list(account_id=account_id, start=start, end=end)
    standing = [c["transaction_id"] for c in cdrs if not c["credit"] and not c["superseded"]]  # each session once
    parks: dict[str, float] = {}
    for by_park in (await context.store.accounts.session_parks(standing)).values():
        for park, wh in by_park.items():
            parks[park] = parks.get(park, 0.0) + wh
    for cdr in cdrs:
        body, cost = cdr["cdr"], cdr["cost"]
        lines.append({
            "cdr_id": cdr["id"], "credit": cdr["credit"], "session_id": body["session_id"],
            "charge_point_id": body["cdr_location"]["evse_uid"], "start": body["start_date_time"],
            "end": body["end_date_time"], "energy_kwh": body["total_energy"], "green_energy_kwh": body["green_energy"],
            "currency": cost["currency"], "excl_vat": cost["excl_vat"], "vat": cost["vat"],
            "incl_vat": cost["incl_vat"],
        })  # fmt: skip
        total = totals.setdefault(cost["currency"], {k: Decimal(0) for k in ("excl_vat", "vat", "incl_vat")})
        for key in total:
            total[key] += Decimal(cost[key])
    document = {
        "account": account, "month": month,
        "lines": lines, "totals": {c: {k: str(v) for k, v in t.items()} for c, t in sorted(totals.items())},
        "green_energy_by_park_kwh": {park: round(wh / 1000, 3) for park, wh in sorted(parks.items())},
    }  # fmt: skip
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, STATEMENT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(lines)
        return web.Response(text=out.getvalue(), content_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="coopgrid-{account_id}-{month}.csv"'})  # fmt: skip
    if fmt == "html":
        return web.Response(text=statement_html(document), content_type="text/html")
    if fmt == "pdf":
        return web.Response(body=statement_pdf(document), content_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="coopgrid-{account_id}-{month}.pdf"'})  # fmt: skip
    return web.json_response(document)


CDR_ROUTES: tuple[Route, ...] = (
    Route("get", "/api/cdrs", "cdrs", list_cdrs, "Charge detail records (OCPI 2.2.1 CDRs), credits included",
          roles=COOPERATIVE, scope=Scope.ACCOUNT, free_response=True, tag="accounts",
          query=(("account", "string", "one account's"), ("from", "date-time", "sessions ended from"),
                 ("to", "date-time", "sessions ended before"))),
    Route("get", "/api/cdrs/{cdr_id}", "cdr", get_cdr, "One CDR", roles=COOPERATIVE, scope=Scope.ACCOUNT,
          free_response=True, errors=(404,), tag="accounts"),
    Route("post", "/api/cdrs/{cdr_id}/credit", "cdr-credit", credit_cdr,
          "Correct a CDR: a credit CDR, and with reissue a new CDR at the session's tariff now",
          body=CreditBody, free_response=True, status=201, errors=(404, 409), tag="accounts"),
    Route("get", "/api/accounts/{account_id}/statement", "account-statement", statement,
          "An account's monthly statement (json, csv, a printable html page or pdf)", roles=COOPERATIVE,
          scope=Scope.ACCOUNT, free_response=True, errors=(404,), csv=True, tag="accounts",
          documents=("text/html", "application/pdf"),
          query=(("month", "string", "YYYY-MM (UTC); default: this month"),
                 ("format", "statement-format", "json (default), csv, html or pdf"))),
)  # fmt: skip
ROUTES = ROUTES + CDR_ROUTES
