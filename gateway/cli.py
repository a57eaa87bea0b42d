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

from gateway.settings import ConfigError, load_settings


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
    _configure_logging(args.log_level or settings.log_level)
    stop = asyncio.Event()
    run_until_signal(supervise(settings, stop), stop)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    _configure_logging(args.log_level)
    stop = asyncio.Event()
    run_until_signal(run_demo(stop, duration_s=args.duration, speed=args.speed, port=args.port), stop)
    return 0


def _token_create(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from gateway.auth import new_token, token_digest
    from gateway.storage import open_store

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"coopgrid: {exc}", file=sys.stderr)
        return 2
    if args.role == "cooperative":
        known = {coop.id for coop in settings.cooperatives}
        if not args.cooperative:
            print("coopgrid: --cooperative is required for the cooperative role", file=sys.stderr)
            return 2
        if args.cooperative not in known:
            known_list = ", ".join(sorted(known)) or "none configured"
            print(f"coopgrid: unknown cooperative {args.cooperative!r} (known: {known_list})", file=sys.stderr)
            return 2
    token = new_token()

    async def create() -> None:
        async with open_store(settings.database.url) as store:
            await store.create_token(
                args.name or args.role, args.role, args.cooperative, token_digest(token), datetime.now(UTC)
            )

    asyncio.run(create())
    print(token)
    print(f"(a {args.role} token; it is shown once and stored hashed)", file=sys.stderr)
    return 0


def _simulate(args: argparse.Namespace, rest: list[str]) -> int:
    from simulators.cli import main as simulate_main

    return simulate_main(rest)


def build_parser() -> argparse.ArgumentParser:
    from gateway.version import package_version

    parser = argparse.ArgumentParser(prog="coopgrid", description=__doc__)
    parser.add_argument("--version", action="version", version=f"coopgrid {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="everything embedded, with simulated chargers and solar parks")
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: run)")
    demo.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second (default 60)")
    demo.add_argument("--port", type=int, default=8080, help="HTTP/OCPP port (0 = a free one; default 8080)")
    demo.add_argument("--log-level", default="WARNING")

    serve = commands.add_parser("serve", help="run the platform")
    serve.add_argument("--config", type=Path, default=None, help="TOML file (COOPGRID_* variables override it)")
    serve.add_argument("--log-level", default=None)

    token = commands.add_parser("token", help="REST API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create a bearer token and print it once")
    create.add_argument("--role", required=True, choices=["operator", "cooperative", "viewer"])
    create.add_argument("--cooperative", help="the cooperative a cooperative token may read")
    create.add_argument("--name", help="a label for the token")
    create.add_argument("--config", type=Path, default=None)

    commands.add_parser("simulate", help="hardware simulators: chargers | inverters | scenario", add_help=False)
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
        return _token_create(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
