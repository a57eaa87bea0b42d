"""What every handler shares: the app's keys, the error body, times on the wire."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web

from gateway.auth import Principal

if TYPE_CHECKING:
    from gateway.platform import Platform

PLATFORM: web.AppKey[Platform] = web.AppKey("platform")
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")


def iso(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z") if ts else None


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
