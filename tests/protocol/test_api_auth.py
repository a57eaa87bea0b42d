"""Every REST route with every role: 401 without a token, 403 for a role that may not, else allowed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from gateway.api.routes import ROUTES as TABLE
from gateway.auth import new_token, token_digest
from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform

BOOTSTRAP = "bootstrap-operator-token-for-tests"
ROUTE_ROLES = {route.name: route.roles for route in TABLE}

# (method, path, body) for every /api route; the status when allowed is anything but 401/403.
ROUTES = [
    ("GET", "/api/chargepoints", None, "chargepoints"),
    ("POST", "/api/chargepoints", {"id": "CP-NEW"}, "chargepoint-create"),
    ("GET", "/api/chargepoints/CP-A", None, "chargepoint"),
    ("PATCH", "/api/chargepoints/CP-A", {"site_id": "site-a"}, "chargepoint-update"),
    ("GET", "/api/chargepoints/CP-A/events", None, "chargepoint-events"),
    ("GET", "/api/chargepoints/CP-A/variables", None, "chargepoint-variables"),
    ("POST", "/api/chargepoints/CP-A/local-list", None, "local-list"),
    ("POST", "/api/chargepoints/CP-A/security-profile", {"profile": 3}, "security-profile"),
    ("GET", "/api/chargepoints/CP-A/certificates", None, "certificates"),
    (
        "POST",
        "/api/chargepoints/CP-A/certificates",
        {"certificate_type": "x", "certificate": "y"},
        "certificate-install",
    ),  # fmt: skip
    ("DELETE", "/api/chargepoints/CP-A/certificates/01", None, "certificate-delete"),
    ("POST", "/api/chargepoints/CP-A/ocpp/Reset", {"type": "Soft"}, "ocpp-action"),
    ("GET", "/api/id-tags", None, "id-tags"),
    ("PUT", "/api/id-tags/T1", {"status": "Accepted"}, "id-tag-put"),
    ("GET", "/api/id-tags/TAG-OK", None, "id-tag"),
    ("DELETE", "/api/id-tags/T1", None, "id-tag-delete"),
    ("GET", "/api/sessions", None, "sessions"),
    ("GET", "/api/sessions/1", None, "session"),
    ("PUT", "/api/sessions/1/mode", {"mode": "fast"}, "session-mode"),
    ("POST", "/api/sessions/1/priority-charging", {"activate": True}, "session-priority-charging"),
    ("GET", "/api/parks", None, "parks"),
    ("GET", "/api/parks/park-1", None, "park"),
    ("GET", "/api/parks/park-1/energy", None, "park-energy"),
    ("GET", "/api/parks/park-1/inverters/energy", None, "park-inverter-energy"),
    ("GET", "/api/cooperatives", None, "cooperatives"),
    ("GET", "/api/cooperatives/coop-1/report", None, "cooperative-report"),
    ("GET", "/api/solar/rejects", None, "solar-rejects"),
    ("GET", "/api/sites/site-a/allocation", None, "allocation"),
    ("GET", "/api/sites/site-a/plan", None, "plan"),
    ("GET", "/api/sites", None, "sites"),
    ("POST", "/api/sites", {"id": "site-new", "grid_limit_a": 40}, "site-create"),
    ("GET", "/api/sites/site-a", None, "site"),
    ("PATCH", "/api/sites/site-new", {"base_load_a": 2}, "site-update"),
    ("DELETE", "/api/sites/site-gone", None, "site-delete"),
    ("POST", "/api/chargepoints/CP-A/limit", {"limit_a": 10}, "limit"),
    ("POST", "/api/chargepoints/CP-A/reservations", {"connector_id": 1}, "reservation-create"),
    ("GET", "/api/reservations", None, "reservations"),
    ("GET", "/api/reservations/1", None, "reservation"),
    ("DELETE", "/api/reservations/1", None, "reservation-cancel"),
    ("GET", "/api/live", None, "live"),
    ("GET", "/api/history", None, "history"),
    ("GET", "/api/tokens", None, "tokens"),
    ("POST", "/api/tokens", {"role": "viewer"}, "token-create"),
    ("DELETE", "/api/tokens/999", None, "token-revoke"),
    ("GET", "/api/accounts", None, "accounts"),
    ("POST", "/api/accounts", {"id": "acc-x"}, "account-create"),
    ("GET", "/api/accounts/acc-none", None, "account"),
    ("GET", "/api/accounts/acc-none/summary", None, "account-summary"),
    ("DELETE", "/api/accounts/acc-none", None, "account-delete"),
    ("GET", "/api/tariffs", None, "tariffs"),
    (
        "PUT",
        "/api/tariffs/t-1",
        {"tariff": {"currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3}]}]}},
        "tariff-put",
    ),  # fmt: skip
    ("DELETE", "/api/tariffs/t-none", None, "tariff-delete"),
    ("GET", "/api/cdrs", None, "cdrs"),
    ("GET", "/api/cdrs/none", None, "cdr"),
    ("POST", "/api/cdrs/none/credit", {}, "cdr-credit"),
    ("GET", "/api/accounts/acc-none/statement", None, "account-statement"),
    ("GET", "/api/session", None, "whoami"),
    ("POST", "/api/sessions/1/transaction-status", None, "session-transaction-status"),
    ("POST", "/api/sessions/1/tariff", {"tariff_id": "t-1"}, "session-tariff"),
    ("POST", "/api/chargepoints/CP-A/default-tariff", {}, "chargepoint-default-tariff"),
    ("POST", "/api/firmware", None, "firmware-upload"),
    ("GET", "/api/firmware", None, "firmware-images"),
    ("POST", "/api/chargepoints/CP-A/firmware", {"firmware_id": 1}, "firmware-update"),
    ("GET", "/api/chargepoints/CP-A/firmware", None, "firmware-timeline"),
    ("POST", "/api/chargepoints/CP-A/diagnostics", {}, "diagnostics-request"),
    ("GET", "/api/chargepoints/CP-A/diagnostics", None, "diagnostics-timeline"),
    ("GET", "/api/chargepoints/CP-A/diagnostics/1/file", None, "diagnostics-file"),
    ("GET", "/api/ocpi/partners", None, "ocpi-partners"),
    ("POST", "/api/ocpi/partners", {"id": "p-1", "name": "P"}, "ocpi-partner-create"),
    ("GET", "/api/ocpi/partners/none", None, "ocpi-partner"),
    ("DELETE", "/api/ocpi/partners/none", None, "ocpi-partner-delete"),
]


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(
        tmp_path,
        http={"host": "127.0.0.1", "port": 0, "auth": True},
        operator_token=BOOTSTRAP,
        cooperatives=[
            {"id": "coop-1", "members": [{"id": "m1"}]},
            {"id": "coop-2", "members": [{"id": "m2"}]},
        ],
        parks=[
            {"id": "park-1", "member_id": "m1", "inverters": [{"id": "i", "rated_power_w": 1000}]},
            {"id": "park-2", "member_id": "m2", "inverters": [{"id": "i", "rated_power_w": 1000}]},
        ],
    )
    async with running_platform(settings) as running:
        yield running


async def make_token(platform: Platform, role: str, cooperative: str | None = None) -> str:
    token = new_token()
    await platform.store.tokens.create(role, role, cooperative, token_digest(token), datetime.now(UTC))
    return token


async def test_route_table_covers_every_api_route(platform: Platform) -> None:
    """Every route of the table that needs a token is walked here (the SSE stream in the dashboard tests)."""
    needing_a_token = {route.name for route in TABLE if not route.public}
    assert needing_a_token - {"stream"} == {name for *_, name in ROUTES}


async def test_every_route_with_every_role(platform: Platform) -> None:
    tokens = {
        "operator": await make_token(platform, "operator"),
        "cooperative": await make_token(platform, "cooperative", "coop-1"),
        "viewer": await make_token(platform, "viewer"),
    }
    async with aiohttp.ClientSession() as http:
        for method, path, body, name in ROUTES:
            url = platform.http_url + path
            async with http.request(method, url, json=body) as response:
                assert response.status == 401, (method, path)
            async with http.request(method, url, json=body, headers={"Authorization": "Bearer nope"}) as response:
                assert response.status == 401, (method, path)
            for role, token in tokens.items():
                headers = {"Authorization": f"Bearer {token}"}
                async with http.request(method, url, json=body, headers=headers) as response:
                    allowed = role in ROUTE_ROLES[name]
                    if allowed:
                        assert response.status not in (401, 403), (role, method, path, response.status)
                        assert response.status < 500, (role, method, path, await response.text())
                    else:
                        assert response.status == 403, (role, method, path, response.status)
        headers = {"Authorization": f"Bearer {BOOTSTRAP}"}
        async with http.post(platform.http_url + "/api/chargepoints", json={"id": "CP-X"}, headers=headers) as r:
            assert r.status == 201


async def test_cooperative_token_sees_only_its_own_parks(platform: Platform) -> None:
    token = await make_token(platform, "cooperative", "coop-1")
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(platform.http_url + "/api/parks") as response:
            assert [p["id"] for p in await response.json()] == ["park-1"]
        async with http.get(platform.http_url + "/api/parks/park-2") as response:
            assert response.status == 404
        async with http.get(platform.http_url + "/healthz") as response:
            assert response.status == 200


async def test_cooperative_token_reads_only_its_own_report_and_energy(platform: Platform) -> None:
    token = await make_token(platform, "cooperative", "coop-1")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.get(platform.http_url + "/api/cooperatives/coop-1/report") as response:
            assert response.status == 200
            assert [m["id"] for m in (await response.json())["members"]] == ["m1"]
        async with http.get(platform.http_url + "/api/cooperatives/coop-2/report") as response:
            assert response.status == 404
        async with http.get(platform.http_url + "/api/parks/park-2/energy") as response:
            assert response.status == 404
