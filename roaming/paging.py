"""Pagination of the OCPI list endpoints (OCPI 2.2.1 §4.1.3): `offset`, `limit`, `date_from`, `date_to`
(on `last_updated`), answered with `X-Total-Count`, `X-Limit` and a `Link` to the next page. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roaming.envelope import INVALID_PARAMETERS, OcpiError, parse_datetime

MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Page:
    offset: int = 0
    limit: int = MAX_LIMIT
    date_from: datetime | None = None
    date_to: datetime | None = None


def parse_page(query: Mapping[str, str], max_limit: int = MAX_LIMIT) -> Page:
    """The query of a list request. A limit above the server's is lowered to it (as OCPI says)."""
    numbers = {}
    for key, default in (("offset", 0), ("limit", max_limit)):
        raw = query.get(key)
        if raw is None or raw == "":
            numbers[key] = default
            continue
        if not raw.isascii() or not raw.isdecimal() or len(raw) > 10:
            raise OcpiError(INVALID_PARAMETERS, f"{key}: a whole number >= 0")
        numbers[key] = int(raw)
    dates = {key: parse_datetime(query[key], key) if query.get(key) else None for key in ("date_from", "date_to")}
    return Page(numbers["offset"], max(1, min(numbers["limit"], max_limit)), dates["date_from"], dates["date_to"])


def window(items: Sequence[dict[str, Any]], page: Page) -> tuple[list[dict[str, Any]], int]:
    """The page of `items` (each with an OCPI `last_updated`, ordered as the caller wants) and how many there
    are in all after the date filters: `date_from` inclusive, `date_to` exclusive."""
    kept = [
        item
        for item in items
        if (page.date_from is None or parse_datetime(item["last_updated"], "last_updated") >= page.date_from)
        and (page.date_to is None or parse_datetime(item["last_updated"], "last_updated") < page.date_to)
    ]
    return kept[page.offset : page.offset + page.limit], len(kept)


def next_offset(page: Page, total: int) -> int | None:
    following = page.offset + page.limit
    return following if following < total else None


def link_next(link_header: str | None) -> str | None:
    """The URL of `rel="next"` in a partner's Link header (a pulled list's next page)."""
    for part in (link_header or "").split(","):
        pieces = [p.strip() for p in part.strip().split(";")]
        url = pieces[0]
        rels = {p.replace(" ", "") for p in pieces[1:]}
        if url.startswith("<") and url.endswith(">") and rels & {'rel="next"', "rel=next"}:
            return url[1:-1]
    return None
