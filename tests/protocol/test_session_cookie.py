"""The dashboard's sign-in over real loopback HTTP: a token for an HttpOnly, SameSite cookie, accepted by
the auth middleware as the bearer header is, refused once the token is revoked, cleared by sign-out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path

import aiohttp
import pytest

from gateway.api.access import SESSION_COOKIE
from gateway.platform import Platform
from tests.fixtures.platform import make_settings, running_platform

OPERATOR_TOKEN = "operator-bootstrap-token-0123456789"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(
        tmp_path,
        http={"host": "127.0.0.1", "port": 0, "auth": True},
        operator_token=OPERATOR_TOKEN,
        cooperatives=[{"id": "coop-sun", "members": [{"id": "m"}]}],
    )
    async with running_platform(settings) as running:
        yield running


def _cookie_attributes(response: aiohttp.ClientResponse) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie"):
        jar.load(header)
    morsel = jar[SESSION_COOKIE]
    return {key: str(morsel[key]) for key in ("httponly", "samesite", "path", "max-age", "secure")} | {
        "value": morsel.value
    }


async def test_sign_in_sets_an_httponly_samesite_cookie_that_the_api_accepts(platform: Platform) -> None:
    url = platform.http_url
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{url}/api/chargepoints") as response:
            assert response.status == 401
        async with http.post(f"{url}/api/session", json={"token": OPERATOR_TOKEN}) as response:
            assert response.status == 200
            assert await response.json() == {"role": "operator", "cooperative_id": None, "name": "bootstrap",
                                             "auth": True}  # fmt: skip
            cookie = _cookie_attributes(response)
        assert cookie["httponly"] == "True"  # SimpleCookie reads the bare HttpOnly flag as True
        assert cookie["samesite"] == "Strict"
        assert cookie["path"] == "/"
        assert int(cookie["max-age"]) == 12 * 3600
        assert cookie["secure"] == ""  # plain HTTP here; behind TLS it is Secure
        async with http.get(f"{url}/api/chargepoints") as response:  # the cookie alone, no header
            assert response.status == 200
            assert {c["id"] for c in await response.json()} == {"CP-A", "CP-B"}
        async with http.get(f"{url}/api/session") as response:
            assert (await response.json())["role"] == "operator"
        async with http.get(f"{url}/api/stream") as response:  # EventSource sends the cookie too
            assert response.status == 200
            assert (await response.content.readuntil(b"\n\n")).startswith(b"event: snapshot")
        async with http.delete(f"{url}/api/session") as response:
            assert response.status == 204
            assert _cookie_attributes(response)["value"] == ""
        async with http.get(f"{url}/api/chargepoints") as response:
            assert response.status == 401


async def test_a_bad_token_gets_no_cookie(platform: Platform) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{platform.http_url}/api/session", json={"token": "not-a-token"}) as response:
            assert response.status == 401
            assert "Set-Cookie" not in response.headers
            assert (await response.json())["error"]["message"].startswith("token: ")
        async with http.post(f"{platform.http_url}/api/session", json={"tok": "x"}) as response:
            assert response.status == 422
            assert "token" in (await response.json())["error"]["message"]


async def test_a_revoked_token_ends_its_session_and_roles_still_hold(platform: Platform) -> None:
    url = platform.http_url
    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    async with aiohttp.ClientSession() as admin:
        async with admin.post(f"{url}/api/tokens", json={"role": "viewer", "name": "screen"}, headers=operator) as r:
            created = await r.json()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{url}/api/session", json={"token": created["token"]}) as response:
            assert (await response.json())["role"] == "viewer"
        async with http.get(f"{url}/api/chargepoints") as response:
            assert response.status == 200
        async with http.get(f"{url}/api/tokens") as response:
            assert response.status == 403  # a viewer's cookie is a viewer's
        async with aiohttp.ClientSession() as admin:
            async with admin.delete(f"{url}/api/tokens/{created['id']}", headers=operator) as response:
                assert response.status == 204
        async with http.get(f"{url}/api/chargepoints") as response:
            assert response.status == 401


async def test_a_change_by_cookie_must_come_from_the_dashboards_origin(platform: Platform) -> None:
    url = platform.http_url
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(
            f"{url}/api/session", json={"token": OPERATOR_TOKEN}, headers={"Origin": "http://evil.example"}
        ) as response:
            assert response.status == 403
            assert "Set-Cookie" not in response.headers
        async with http.post(f"{url}/api/session", json={"token": OPERATOR_TOKEN}) as response:
            assert response.status == 200
        body = {"status": "Accepted"}
        async with http.put(f"{url}/api/id-tags/TAG-NEW", json=body, headers={"Origin": "http://evil.example"}) as r:
            assert r.status == 401
        async with http.put(f"{url}/api/id-tags/TAG-NEW", json=body) as response:  # no Origin: not the browser's
            assert response.status == 401
        async with http.put(f"{url}/api/id-tags/TAG-NEW", json=body, headers={"Origin": url}) as response:
            assert response.status in (200, 201, 204), await response.text()
