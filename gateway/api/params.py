"""Query parameters, paging and request bodies: checked once, refused with 422 and a message naming the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.api.context import api

MAX_PAGE = 10_000
MAX_OFFSET = 2**31 - 1  # what every SQL engine takes


def invalid_query(message: str) -> web.HTTPUnprocessableEntity:
    return web.HTTPUnprocessableEntity(
        text=json.dumps({"error": {"code": "InvalidQuery", "message": message}}), content_type="application/json"
    )


def page(request: web.Request, default: int = 1000) -> tuple[int, int]:
    """`?limit=&offset=`: at most MAX_PAGE items per page."""
    try:
        limit = int(request.query.get("limit", default))
        offset = int(request.query.get("offset", 0))
    except ValueError:
        raise invalid_query("limit and offset must be whole numbers") from None
    if not 1 <= limit <= MAX_PAGE or not 0 <= offset <= MAX_OFFSET:
        raise invalid_query(f"limit must be within 1..{MAX_PAGE} and offset within 0..{MAX_OFFSET}")
    return limit, offset


def time_query(request: web.Request, name: str) -> datetime | None:
    value = request.query.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid_query(f"{name} must be an ISO 8601 time, e.g. 2026-06-01T00:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def paged(request: web.Request, items: list[Any], total: int, limit: int, offset: int) -> web.Response:
    """A page of a list: the items, `X-Total-Count`, and a `Link` to the next page when there is one."""
    response = web.json_response(items)
    response.headers["X-Total-Count"] = str(total)
    if offset + limit < total:
        following = request.url.update_query(limit=limit, offset=offset + limit)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return response


def bool_query(value: str | None, name: str = "active") -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise invalid_query(f"{name} must be true or false")


M = TypeVar("M", bound=BaseModel)


async def read_body(request: web.Request, model: type[M]) -> M:
    try:
        data = await request.json()
    except ValueError:  # not JSON, or not even UTF-8
        raise unprocessable("InvalidJson", "the body must be JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise unprocessable("InvalidBody", f"{where}: {first['msg']}") from None


def unprocessable(code: str, message: str) -> web.HTTPUnprocessableEntity:
    return web.HTTPUnprocessableEntity(
        text=json.dumps({"error": {"code": code, "message": message}}), content_type="application/json"
    )


# the query of `period()`, as the route table documents it
PERIOD_QUERY = (
    ("from", "date-time", "start (ISO 8601); default: today 00:00 UTC"),
    ("to", "date-time", "end, exclusive; default: now"),
)


def period(request: web.Request) -> tuple[datetime, datetime]:
    """`?from=&to=` (ISO 8601, UTC when no offset); default: today so far (UTC)."""
    now = api(request).clock()
    start = time_query(request, "from") or now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = time_query(request, "to") or now
    if end <= start:
        raise invalid_query("to must be after from")
    if end - start > timedelta(days=3700):
        raise invalid_query("a report spans at most ten years")
    return start, end
