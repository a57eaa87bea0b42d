"""Charging accounts (members and guests owning id tags, and through them sessions) and tariffs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from billing.tariff import TariffError, parse_tariff
from gateway.api.access import tenancy
from gateway.api.context import api, error, iso
from gateway.api.params import read_body, time_query
from gateway.api.sessions import session_view
from gateway.api.table import COOPERATIVE, Route, Scope
from gateway.api_models import AccountBody, AccountSummaryView, AccountView, TariffBody, TariffView
from gateway.pricing import Pricing


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
    totals: dict[str, Any] = {}
    for view in views:
        if view["cost"] is not None:
            currency = view["cost"]["currency"]
            totals[currency] = totals.get(currency, 0) + _decimal(view["cost"]["incl_vat"])
    return web.json_response({
        "account_id": account_id,
        "start": iso(start),
        "end": iso(end),
        "sessions": len(views),
        "energy_wh": round(energy, 1),
        "green_energy_wh": round(green, 1),
        "green_share": round(green / energy, 4) if energy > 0 else None,
        "cost": {currency: str(total) for currency, total in sorted(totals.items())},
        "unpriced_sessions": sum(1 for v in views if v["cost"] is None),
    })  # fmt: skip


def _decimal(text: str) -> Decimal:
    return Decimal(text)


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
    return web.json_response(await context.store.accounts.get_tariff(tariff_id), status=201 if created else 200)


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
