"""`coopgrid token create | list | revoke` in-process, and the rules they share with the REST API."""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.auth import TokenRequestError, check_token_request, parse_expiry, same_secret
from gateway.cli import main

NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("COOPGRID_DATABASE__URL", "COOPGRID_OPERATOR_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "coopgrid.toml"
    path.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "cli.db"}"\n\n'
        '[[cooperatives]]\nid = "coop-sun"\n\n[[cooperatives]]\nid = "coop-wind"\n',
        encoding="utf-8",
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "viewer", "--cooperative", "coop-sun"], "--cooperative: a viewer token reads charger status"),
        (["--role", "operator", "--cooperative", "coop-sun"], "--cooperative: an operator token sees every"),
        (["--role", "cooperative"], "--cooperative: a cooperative token needs the cooperative it may read"),
        (
            ["--role", "cooperative", "--cooperative", "coop-moon"],
            "--cooperative: unknown cooperative 'coop-moon' (configured: coop-sun, coop-wind)",
        ),
        (["--role", "viewer", "--expires", "2020-01-01"], "--expires: '2020-01-01' is not in the future"),
        (["--role", "viewer", "--expires", "0d"], "--expires: '0d' is not in the future"),
        (["--role", "viewer", "--expires", "next week"], "--expires: 'next week' is neither a duration"),
        (["--role", "viewer", "--expires", "30x"], "--expires: '30x' is neither a duration"),
        (["--role", "viewer", "--expires", "999999w"], "--expires: '999999w' is neither a duration"),
        (["--role", "viewer", "--name", "n" * 65], "--name: a token's name has 1 to 64 printable characters"),
    ],
)
def test_meaningless_tokens_are_refused(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, "token", "create", "--config", str(config), *args)
    assert code == 2
    assert out == ""  # no token printed
    assert f"coopgrid: token create {message}" in err
    code, out, _ = run(capsys, "token", "list", "--config", str(config), "--json")
    assert code == 0
    assert json.loads(out) == []  # and none stored


def test_create_list_revoke(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "token", "create", "--config", str(config), "--role", "operator", "--name", "alice")
    assert code == 0
    alice = out.strip()
    assert alice.startswith("cg_")
    assert "token 1" in err
    assert "does not expire" in err
    code, out, err = run(
        capsys,
        "token",
        "create",
        "--config",
        str(config),
        "--role",
        "cooperative",
        "--cooperative",
        "coop-sun",
        "--expires",
        "12h",
    )
    assert code == 0
    assert "token 2" in err
    assert "expires" in err
    viewer = ("--role", "viewer", "--expires", "2999-01-01")
    code, out, _ = run(capsys, "token", "create", "--config", str(config), *viewer)
    assert code == 0

    code, out, _ = run(capsys, "token", "list", "--config", str(config))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "ROLE", "COOPERATIVE", "CREATED", "EXPIRES", "LAST", "USED", "STATE"]
    assert lines[1].split()[:4] == ["1", "alice", "operator", "-"]
    assert lines[1].split()[-3:] == ["never", "never", "active"]
    assert lines[2].split()[:4] == ["2", "cooperative", "cooperative", "coop-sun"]
    assert "2999-01-01 00:00Z" in lines[3]
    assert alice not in out  # the list never shows a token

    code, out, _ = run(capsys, "token", "revoke", "--config", str(config), "1")
    assert code == 0
    assert "token 1 (alice) revoked" in out
    code, out, _ = run(capsys, "token", "revoke", "--config", str(config), "1")
    assert code == 0
    assert "already revoked" in out
    code, out, err = run(capsys, "token", "revoke", "--config", str(config), "42")
    assert code == 1
    assert "no token with id 42" in err

    code, out, _ = run(capsys, "token", "list", "--config", str(config), "--json")
    views = json.loads(out)
    assert [(v["id"], v["name"], v["state"]) for v in views] == [
        (1, "alice", "revoked"),
        (2, "cooperative", "active"),
        (3, "viewer", "active"),
    ]
    expires = datetime.fromisoformat(views[1]["expires"])
    assert timedelta(hours=11, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=12)
    assert views[2]["expires"] == "2999-01-01T00:00:00Z"
    assert set(views[0]) == {
        "id",
        "name",
        "role",
        "cooperative_id",
        "created",
        "expires",
        "revoked",
        "last_used",
        "state",
    }


def test_any_cooperative_when_none_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COOPGRID_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'env.db'}")
    code, out, _ = run(capsys, "token", "create", "--role", "cooperative", "--cooperative", "coop-later")
    assert code == 0
    assert out.startswith("cg_")


def test_expiry_forms() -> None:
    assert parse_expiry("30d", NOW) == NOW + timedelta(days=30)
    assert parse_expiry("12h", NOW) == NOW + timedelta(hours=12)
    assert parse_expiry("45m", NOW) == NOW + timedelta(minutes=45)
    assert parse_expiry("2W", NOW) == NOW + timedelta(weeks=2)
    assert parse_expiry("2026-06-01", NOW) == datetime(2026, 6, 1, tzinfo=UTC)  # UTC without an offset
    assert parse_expiry("2026-06-01T12:00:00+02:00", NOW) == datetime(2026, 6, 1, 10, tzinfo=UTC)
    assert parse_expiry("2026-06-01T12:00:00Z", NOW) == datetime(2026, 6, 1, 12, tzinfo=UTC)
    for bad in ("", "d", "-1d", "1.5h", "30 days", "9999-12-31T23:00:00-05:00"):
        with pytest.raises(TokenRequestError) as refused:
            parse_expiry(bad, NOW)
        assert refused.value.field == "expires"
    with pytest.raises(TokenRequestError, match="not in the future"):
        parse_expiry(NOW.isoformat(), NOW)


def test_token_request_rules() -> None:
    known = {"coop-sun"}
    assert check_token_request("operator", None, None, known, NOW) is None
    assert check_token_request("viewer", None, "1h", known, NOW) == NOW + timedelta(hours=1)
    assert check_token_request("cooperative", "coop-sun", None, known, NOW) is None
    for role, coop, field in (
        ("viewer", "coop-sun", "cooperative_id"),
        ("operator", "coop-sun", "cooperative_id"),
        ("cooperative", None, "cooperative_id"),
        ("cooperative", "", "cooperative_id"),
        ("cooperative", "coop-x", "cooperative_id"),
        ("cooperative", "c" * 65, "cooperative_id"),
        ("root", None, "role"),
    ):
        with pytest.raises(TokenRequestError) as refused:
            check_token_request(role, coop, None, known, NOW)
        assert refused.value.field == field


def test_secrets_are_compared_whole_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    assert same_secret("bootstrap-token", "bootstrap-token")
    assert not same_secret("bootstrap-token"[:-1], "bootstrap-token")
    assert not same_secret("bootstrap-token" + "x", "bootstrap-token")
    assert not same_secret("", "bootstrap-token")
    assert not same_secret("\udcff", "bootstrap-token")  # a header's undecodable byte: no error
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    same_secret("short", "a much longer bootstrap token")
    # compared in constant time, on digests of equal length whatever the lengths of the secrets
    assert [(len(a), len(b)) for a, b in compared] == [(32, 32)]
