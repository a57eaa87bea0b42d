"""The `coopgrid` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from gateway.settings import ConfigError, Settings, load_settings


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiohttp.server").addFilter(_bad_requests_are_warnings)
    # amqtt and the transitions state machine are chatty at INFO.
    for noisy in ("amqtt", "transitions", "aiosqlite", "alembic", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def _bad_requests_are_warnings(record: logging.LogRecord) -> bool:
    """aiohttp logs a malformed HTTP request (answered 400) with a traceback at ERROR;
    a client's bad bytes are a warning for us, in one line."""
    from aiohttp.http_exceptions import HttpProcessingError

    if record.exc_info and isinstance(record.exc_info[1], HttpProcessingError):
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg = f"{record.getMessage()}: {record.exc_info[1]!r}"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
    return True


def run_until_signal(main: Coroutine[Any, Any, None], stop: asyncio.Event) -> None:
    """Run `main` with SIGINT/SIGTERM setting `stop` (a clean, exit-code-0 shutdown)."""

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main

    asyncio.run(runner())


def _serve(args: argparse.Namespace) -> int:
    from gateway.platform import supervise

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"coopgrid: {exc}", file=sys.stderr)
        return 2
    from gateway.startup import StartupError

    _configure_logging(args.log_level or settings.log_level)
    stop = asyncio.Event()
    try:
        run_until_signal(supervise(settings, stop), stop)
    except StartupError as exc:
        print(f"coopgrid: {exc}", file=sys.stderr)
        return 1
    return 0


def _demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    _configure_logging(args.log_level)
    stop = asyncio.Event()
    run_until_signal(run_demo(stop, duration_s=args.duration, speed=args.speed, port=args.port), stop)
    return 0


_FLAGS = {"name": "--name", "role": "--role", "cooperative_id": "--cooperative", "expires": "--expires"}


def _token(args: argparse.Namespace) -> int:
    """`coopgrid token create | list | revoke`, on the database of the configuration (or COOPGRID_*)."""
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"coopgrid: {exc}", file=sys.stderr)
        return 2
    from gateway.startup import database_label, reason, refused

    commands = {"create": _token_create, "list": _token_list, "revoke": _token_revoke}
    try:
        return commands[args.token_command](args, settings)
    except Exception as exc:
        if not refused(exc):
            raise
        where = database_label(settings.database.url)
        print(f"coopgrid: token {args.token_command}: database {where}: {reason(exc)}", file=sys.stderr)
        return 1


def _token_create(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from gateway.auth import TokenRequestError, check_token_request, new_token, token_digest
    from gateway.storage import open_store

    now = datetime.now(UTC)
    known = {coop.id for coop in settings.cooperatives}
    try:
        expires = check_token_request(args.role, args.cooperative, args.expires, known, now, name=args.name)
    except TokenRequestError as exc:
        print(f"coopgrid: token create {_FLAGS[exc.field]}: {exc.message}", file=sys.stderr)
        return 2
    token = new_token()

    async def create() -> int:
        async with open_store(settings.database.url) as store:
            return await store.tokens.create(
                args.name or args.role, args.role, args.cooperative, token_digest(token), now, expires=expires
            )

    token_id = asyncio.run(create())
    print(token)
    until = f"expires {_when(expires)}" if expires else "does not expire"
    article = "an" if args.role[0] in "aeiou" else "a"
    print(
        f"(token {token_id}, {article} {args.role} token that {until}; it is shown once and stored hashed)",
        file=sys.stderr,
    )
    return 0


def _when(ts: Any) -> str:
    """A time in a table: UTC, to the minute."""
    from datetime import UTC

    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ") if ts else "-"


def _token_list(args: argparse.Namespace, settings: Settings) -> int:
    import json
    from datetime import UTC, datetime

    from gateway.api.tokens import token_view
    from gateway.storage import open_store

    async def read() -> list[Any]:
        async with open_store(settings.database.url) as store:
            return await store.tokens.list()

    tokens = asyncio.run(read())
    now = datetime.now(UTC)
    if args.json:
        print(json.dumps([token_view(info, now) for info in tokens], indent=2))
        return 0
    header = ("ID", "NAME", "ROLE", "COOPERATIVE", "CREATED", "EXPIRES", "LAST USED", "STATE")
    rows = [
        (
            str(info.id),
            info.name,
            info.role,
            info.cooperative_id or "-",
            _when(info.created),
            _when(info.expires) if info.expires else "never",
            _when(info.last_used) if info.last_used else "never",
            info.state(now),
        )
        for info in tokens
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if not rows:
        print("(no tokens: create one with `coopgrid token create --role ...`)", file=sys.stderr)
    return 0


def _token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.storage import open_store

    async def revoke() -> tuple[Any, bool]:
        async with open_store(settings.database.url) as store:
            before = await store.tokens.get(args.id)
            return before, await store.tokens.revoke(args.id)

    before, revoked = asyncio.run(revoke())
    if not revoked:
        print(f"coopgrid: token revoke: no token with id {args.id} (see `coopgrid token list`)", file=sys.stderr)
        return 1
    if before is not None and before.revoked is not None:
        print(f"token {args.id} ({before.name}) was already revoked on {_when(before.revoked)}")
    else:
        print(f"token {args.id} ({before.name if before else ''}) revoked: it is refused from now on")
    return 0


def _simulate(args: argparse.Namespace, rest: list[str]) -> int:
    from simulators.cli import main as simulate_main

    return simulate_main(rest)


EXAMPLES = {
    "coopgrid": """examples:
  coopgrid demo                                     # everything embedded: http://127.0.0.1:8080/
  coopgrid serve --config deploy/coopgrid.toml      # the platform, as configured
  coopgrid token create --role operator --name ops  # a bearer token for the API and the dashboard
  coopgrid simulate chargers --url ws://127.0.0.1:8080/ocpp --count 4
""",
    "demo": """examples:
  coopgrid demo                              # on :8080, a simulated minute a second
  coopgrid demo --port 0 --speed 600 --duration 120
""",
    "serve": """examples:
  coopgrid serve --config deploy/coopgrid.toml
  COOPGRID_MQTT__URL= COOPGRID_HTTP__PORT=9000 coopgrid serve --config deploy/coopgrid.toml  # embedded broker
""",
    "token": """examples:
  coopgrid token create --role cooperative --cooperative coop-sun --expires 30d --config deploy/coopgrid.toml
  coopgrid token list --config deploy/coopgrid.toml
  coopgrid token revoke 3 --config deploy/coopgrid.toml
""",
    "create": """examples:
  coopgrid token create --role operator --name night-shift --expires 12h
  coopgrid token create --role cooperative --cooperative coop-sun --name coop-sun-board
""",
    "list": """examples:
  coopgrid token list
  coopgrid token list --json --config deploy/coopgrid.toml
""",
    "revoke": """examples:
  coopgrid token revoke 3        # the id from `coopgrid token list`
""",
}


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, **options: Any
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name, epilog=EXAMPLES[name], formatter_class=argparse.RawDescriptionHelpFormatter, **options
    )


def build_parser() -> argparse.ArgumentParser:
    from gateway.version import package_version

    parser = argparse.ArgumentParser(
        prog="coopgrid",
        description=__doc__,
        epilog=EXAMPLES["coopgrid"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"coopgrid {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = _command(commands, "demo", help="everything embedded, with simulated chargers and solar parks")
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: run)")
    demo.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second (default 60)")
    demo.add_argument("--port", type=int, default=8080, help="HTTP/OCPP port (0 = a free one; default 8080)")
    demo.add_argument("--log-level", default="WARNING")

    serve = _command(commands, "serve", help="run the platform")
    serve.add_argument("--config", type=Path, default=None, help="TOML file (COOPGRID_* variables override it)")
    serve.add_argument("--log-level", default=None)

    token = _command(commands, "token", help="REST API tokens: create, list, revoke")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = _command(token_commands, "create", help="create a bearer token and print it once")
    create.add_argument("--role", required=True, choices=["operator", "cooperative", "viewer"])
    create.add_argument("--cooperative", help="the cooperative a cooperative token may read (that role only)")
    create.add_argument("--name", help="a label for the token (default: the role)")
    create.add_argument(
        "--expires", help="45m, 12h, 30d, 2w from now, or an ISO-8601 time (UTC without an offset); default: never"
    )
    create.add_argument("--config", type=Path, default=None)
    listing = _command(token_commands, "list", help="every token: role, cooperative, expiry, last use, state")
    listing.add_argument("--json", action="store_true", help="JSON, as GET /api/tokens answers")
    listing.add_argument("--config", type=Path, default=None)
    revoke = _command(token_commands, "revoke", help="revoke a token at once (it stays listed, as revoked)")
    revoke.add_argument("id", type=int, help="the token's id, from `coopgrid token list`")
    revoke.add_argument("--config", type=Path, default=None)

    commands.add_parser(
        "simulate", help="hardware simulators: chargers | inverters | scenario (see `coopgrid simulate --help`)",
        add_help=False,
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulate"]:
        return _simulate(argparse.Namespace(), argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "demo":
        return _demo(args)
    if args.command == "token":
        return _token(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
