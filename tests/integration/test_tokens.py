"""API tokens over their life: created, used (last-used time), expired, revoked; in SQL, over HTTP and REST.

Storage tests run on real SQLite and a real PostgreSQL (started by tests.fixtures.postgres).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from alembic import command
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.api import tokens as token_routes
from gateway.api.openapi import build_openapi
from gateway.api.routes import create_app
from gateway.auth import new_token, token_digest
from gateway.platform import Platform
from gateway.settings import load_settings
from gateway.storage import Store, _alembic_config, open_store
from tests.fixtures.platform import make_settings, running_platform

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


# -- storage ---------------------------------------------------------------------------------


async def test_lifecycle_expiry_and_revocation(database_url: str) -> None:
    async with open_store(database_url) as store:
        forever = await store.tokens.create("alice", "operator", None, token_digest("a"), T0)
        month = await store.tokens.create(
            "sun", "cooperative", "coop-1", token_digest("b"), T0, T0 + timedelta(days=30)
        )
        assert isinstance(forever, int)
        assert isinstance(month, int)
        assert forever != month

        assert await store.tokens.find(token_digest("a"), T0) == ("operator", None, "alice")
        assert await store.tokens.find(token_digest("b"), T0 + timedelta(days=29)) == ("cooperative", "coop-1", "sun")
        assert await store.tokens.find(token_digest("b"), T0 + timedelta(days=30)) is None  # expired at its expiry
        assert await store.tokens.find(token_digest("unknown"), T0) is None

        assert await store.tokens.revoke(forever, T0 + timedelta(hours=1))
        assert await store.tokens.find(token_digest("a"), T0 + timedelta(hours=2)) is None
        assert await store.tokens.revoke(forever, T0 + timedelta(hours=3))  # again: it stays revoked, as of the first
        assert not await store.tokens.revoke(9999)
        assert not await store.tokens.revoke(2**40)  # beyond an SQL integer: no such token, no database error
        assert await store.tokens.get(2**40) is None

        listed = {info.id: info for info in await store.tokens.list()}
        assert listed[forever].revoked == T0 + timedelta(hours=1)
        assert listed[forever].state(T0 + timedelta(hours=2)) == "revoked"
        assert listed[month].expires == T0 + timedelta(days=30)
        assert listed[month].state(T0) == "active"
        assert listed[month].state(T0 + timedelta(days=31)) == "expired"
        sun = listed[month]
        assert (sun.name, sun.role, sun.cooperative_id) == ("sun", "cooperative", "coop-1")
        assert listed[month].created == T0


async def test_revocation_holds_across_a_restart(database_url: str) -> None:
    async with open_store(database_url) as store:
        token_id = await store.tokens.create("bob", "viewer", None, token_digest("t"), T0)
        await store.tokens.revoke(token_id, T0)
    async with open_store(database_url) as store:
        assert await store.tokens.find(token_digest("t"), T0 + timedelta(minutes=1)) is None
        assert (await store.tokens.list())[0].state(T0) == "revoked"


def _count_token_writes(store: Store) -> list[str]:
    writes: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKENS SET LAST_USED"):
            writes.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", seen)
    return writes


async def test_last_used_is_written_at_most_once_a_minute(database_url: str) -> None:
    async with open_store(database_url) as store:
        token_id = await store.tokens.create("busy", "viewer", None, token_digest("busy"), T0)
        writes = _count_token_writes(store)
        assert (await store.tokens.get(token_id)).last_used is None  # type: ignore[union-attr]

        for second in range(0, 60, 2):  # a busy client: a request every 2 s for a minute
            assert await store.tokens.find(token_digest("busy"), T0 + timedelta(seconds=second)) is not None
        await asyncio.gather(*(store.tokens.find(token_digest("busy"), T0 + timedelta(seconds=30)) for _ in range(20)))
        assert len(writes) == 1
        assert (await store.tokens.get(token_id)).last_used == T0  # type: ignore[union-attr]

        await store.tokens.find(token_digest("busy"), T0 + timedelta(seconds=61))
        assert len(writes) == 2
        assert (await store.tokens.get(token_id)).last_used == T0 + timedelta(seconds=61)  # type: ignore[union-attr]

        # a revoked or expired token is not "used"
        await store.tokens.revoke(token_id, T0 + timedelta(minutes=2))
        await store.tokens.find(token_digest("busy"), T0 + timedelta(minutes=5))
        assert len(writes) == 2


async def test_last_used_seen_by_another_instance_is_not_written_again(database_url: str) -> None:
    async with open_store(database_url) as first, open_store(database_url) as second:
        await first.tokens.create("shared", "viewer", None, token_digest("s"), T0)
        await first.tokens.find(token_digest("s"), T0)
        writes = _count_token_writes(second)
        await second.tokens.find(token_digest("s"), T0 + timedelta(seconds=20))
        assert writes == []


async def test_migration_upgrades_a_0007_database(database_url: str) -> None:
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0007"))
        await conn.execute(
            text(
                "INSERT INTO api_tokens (name, role, cooperative_id, token_sha256, created) "
                "VALUES ('old', 'cooperative', 'coop-1', :digest, :created)"
            ),
            {"digest": token_digest("old-token"), "created": T0},
        )
    await engine.dispose()

    async with open_store(database_url) as store:
        async with store.engine.connect() as conn:
            revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
            assert int(str(revision)) >= 8  # upgraded through 0008 (to the newest revision)
        # a token from before keeps working, never expires, and now records its use
        assert await store.tokens.find(token_digest("old-token"), T0 + timedelta(days=400)) == (
            "cooperative",
            "coop-1",
            "old",
        )
        (old,) = await store.tokens.list()
        assert (old.expires, old.revoked, old.last_used) == (None, None, T0 + timedelta(days=400))
        assert await store.tokens.revoke(old.id)
        assert await store.tokens.find(token_digest("old-token")) is None


async def test_a_downgrade_does_not_bring_revoked_or_expiring_tokens_back(database_url: str) -> None:
    async with open_store(database_url) as store:
        await store.tokens.create("plain", "viewer", None, token_digest("plain"), T0)
        await store.tokens.create("month", "viewer", None, token_digest("month"), T0, T0 + timedelta(days=30))
        await store.tokens.revoke(await store.tokens.create("gone", "viewer", None, token_digest("gone"), T0), T0)
        async with store.engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(_alembic_config(sync), "0007"))
            names = (await conn.execute(text("SELECT name FROM api_tokens"))).scalars().all()
    assert names == ["plain"]  # 0007 has no revoked or expires column: those tokens would work for ever


# -- over HTTP, through the platform's own auth ------------------------------------------------

BOOTSTRAP = "bootstrap-operator-token-for-tests"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = make_settings(tmp_path, http={"host": "127.0.0.1", "port": 0, "auth": True}, operator_token=BOOTSTRAP)
    async with running_platform(settings) as running:
        yield running


async def _status(platform: Platform, token: str, path: str = "/api/chargepoints") -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{platform.http_url}{path}", headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        return response.status


async def test_expired_and_revoked_tokens_get_401(platform: Platform) -> None:
    now = datetime.now(UTC)
    store = platform.store
    active, expired, revoked = new_token(), new_token(), new_token()
    await store.tokens.create("active", "viewer", None, token_digest(active), now, expires=now + timedelta(hours=1))
    await store.tokens.create("expired", "viewer", None, token_digest(expired), now, expires=now - timedelta(seconds=1))
    revoked_id = await store.tokens.create("revoked", "viewer", None, token_digest(revoked), now)
    assert await _status(platform, revoked) == 200
    await store.tokens.revoke(revoked_id)

    assert await _status(platform, active) == 200
    assert await _status(platform, expired) == 401
    assert await _status(platform, revoked) == 401  # at once: no cache keeps a revoked token alive


async def test_last_used_is_recorded_on_use(platform: Platform) -> None:
    token = new_token()
    token_id = await platform.store.tokens.create("used", "viewer", None, token_digest(token), datetime.now(UTC))
    before = datetime.now(UTC)
    assert await _status(platform, token) == 200
    info = await platform.store.tokens.get(token_id)
    assert info is not None
    assert info.last_used is not None
    assert before <= info.last_used <= datetime.now(UTC)


async def test_a_token_matches_whole_or_not_at_all(platform: Platform) -> None:
    token = new_token()
    await platform.store.tokens.create("whole", "viewer", None, token_digest(token), datetime.now(UTC))
    assert await _status(platform, token) == 200
    for near in (token[:-1], token[:10], token + "x", token[:-1] + ("A" if token[-1] != "A" else "B")):
        assert await _status(platform, near) == 401
    for near in (BOOTSTRAP[:-1], BOOTSTRAP[:1], BOOTSTRAP + "x"):
        assert await _status(platform, near) == 401
    assert await _status(platform, BOOTSTRAP) == 200


async def _raw_status(platform: Platform, authorization: bytes) -> int:
    """A request whose Authorization header holds bytes no client library sends (not UTF-8)."""
    host, port = platform.http_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            b"GET /api/chargepoints HTTP/1.1\r\nHost: test\r\nAuthorization: "
            + authorization
            + b"\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        status_line = await reader.readline()
    finally:
        writer.close()
    return int(status_line.split()[1])


async def test_a_token_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, http={"host": "127.0.0.1", "port": 0, "auth": True})
    async with running_platform(settings) as running:
        assert await _raw_status(running, b"Bearer \xff\xfe") == 401


async def test_a_token_that_is_not_utf8_is_refused_beside_a_bootstrap_token(platform: Platform) -> None:
    assert await _raw_status(platform, b"Bearer \xff\xfe") == 401


# -- the REST routes for operators ------------------------------------------------------------


@pytest.fixture
async def rest(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], Store]]:
    """gateway.api.tokens' ROUTES mounted by create_app with the real auth middleware, on a real store."""
    settings = load_settings(
        http={"host": "127.0.0.1", "port": 0, "auth": True},
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'rest.db'}"},
        operator_token=BOOTSTRAP,
        cooperatives=[{"id": "coop-1"}, {"id": "coop-2"}],
    )
    async with open_store(settings.database.url) as store:
        context = SimpleNamespace(settings=settings, store=store)  # what these handlers and the auth use
        app = create_app(context, routes=token_routes.ROUTES)  # type: ignore[arg-type]
        async with TestClient(TestServer(app)) as client:
            yield client, store


OPERATOR = {"Authorization": f"Bearer {BOOTSTRAP}"}


async def test_rest_create_list_revoke(rest: tuple[TestClient[Any, Any], Store]) -> None:
    client, _ = rest
    response = await client.post(
        "/api/tokens", json={"name": "sun", "role": "cooperative", "cooperative_id": "coop-1", "expires": "30d"}
    )
    assert response.status == 401  # no token, no tokens

    response = await client.post(
        "/api/tokens",
        json={"name": "sun", "role": "cooperative", "cooperative_id": "coop-1", "expires": "30d"},
        headers=OPERATOR,
    )
    assert response.status == 201
    created = await response.json()
    assert created["token"].startswith("cg_")
    assert created["state"] == "active"
    assert (created["name"], created["role"], created["cooperative_id"]) == ("sun", "cooperative", "coop-1")
    expires = datetime.fromisoformat(created["expires"])
    assert timedelta(days=29, hours=23) < expires - datetime.now(UTC) <= timedelta(days=30)

    response = await client.post("/api/tokens", json={"role": "operator"}, headers=OPERATOR)
    operator = await response.json()
    assert operator["name"] == "operator"
    assert operator["expires"] is None
    # the new operator token is a token: it lists, and the list never shows a token
    response = await client.get("/api/tokens", headers={"Authorization": f"Bearer {operator['token']}"})
    assert response.status == 200
    listed = await response.json()
    assert [view["id"] for view in listed] == [created["id"], operator["id"]]
    assert all("token" not in view for view in listed)
    assert next(view for view in listed if view["id"] == operator["id"])["last_used"] is not None

    # a cooperative token may not manage tokens
    response = await client.get("/api/tokens", headers={"Authorization": f"Bearer {created['token']}"})
    assert response.status == 403

    response = await client.delete(f"/api/tokens/{created['id']}", headers=OPERATOR)
    assert response.status == 204
    response = await client.get("/api/tokens", headers={"Authorization": f"Bearer {created['token']}"})
    assert response.status == 401
    response = await client.get("/api/tokens", headers=OPERATOR)
    states = {view["id"]: view["state"] for view in await response.json()}
    assert states == {created["id"]: "revoked", operator["id"]: "active"}

    for unknown in ("9999", "abc", "-1", "99999999999999", "１"):
        response = await client.delete(f"/api/tokens/{unknown}", headers=OPERATOR)
        assert response.status == 404, unknown


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"role": "viewer", "cooperative_id": "coop-1"}, "cooperative_id", "viewer token"),
        ({"role": "operator", "cooperative_id": "coop-1"}, "cooperative_id", "operator token sees every"),
        ({"role": "cooperative"}, "cooperative_id", "needs the cooperative"),
        ({"role": "cooperative", "cooperative_id": "coop-9"}, "cooperative_id", "unknown cooperative 'coop-9'"),
        ({"role": "viewer", "expires": "2020-01-01T00:00:00Z"}, "expires", "not in the future"),
        ({"role": "viewer", "expires": "soon"}, "expires", "neither a duration"),
        ({"role": "viewer", "expires": "0h"}, "expires", "not in the future"),
        ({"role": "root"}, "role", ""),
        ({"role": "viewer", "name": "x" * 65}, "name", ""),
        ({"role": "viewer", "name": "line\nbreak"}, "name", "printable"),
        ({"role": "viewer", "extra": 1}, "extra", ""),
    ],
)
async def test_rest_refuses_meaningless_tokens(
    rest: tuple[TestClient[Any, Any], Store], body: dict[str, Any], field: str, words: str
) -> None:
    client, store = rest
    response = await client.post("/api/tokens", json=body, headers=OPERATOR)
    assert response.status == 422
    message = (await response.json())["error"]["message"]
    assert message.startswith(f"{field}: ")
    assert words in message
    assert await store.tokens.list() == []


def test_the_routes_are_documented() -> None:
    document = build_openapi(token_routes.ROUTES, "test")
    paths = document["paths"]
    assert set(paths["/api/tokens"]) == {"get", "post"}
    assert "201" in paths["/api/tokens"]["post"]["responses"]
    assert set(paths["/api/tokens/{token_id}"]) == {"delete"}
    assert {"TokenCreate", "TokenCreated", "TokenView"} <= set(document["components"]["schemas"])
