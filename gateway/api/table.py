"""The one route table: each REST route declared once, with its roles and tenancy scope.

`create_app` mounts the routes from it, the auth middleware authorizes from
it, and `/api/openapi.json` is generated from it, so a route cannot exist in
one and be missing, or different, in another. Each resource module in
`gateway.api` declares its `ROUTES`; `gateway.api.routes` joins them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from gateway.auth import ROLES

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ALL_ROLES = frozenset(ROLES)
OPERATOR = frozenset({"operator"})
COOPERATIVE = frozenset({"operator", "cooperative"})


class Scope(Enum):
    """What a route's answer is filtered by for a token that does not see everything.

    Operators see everything. A cooperative token sees what its cooperative owns: its members' parks
    (and their energy and rejected telemetry), the sites it runs, and through them those sites' chargers,
    sessions and allocations. A viewer token sees charger status and nothing a cooperative owns.
    """

    NONE = "none"  # nothing owned: health, documents, or operator-only routes
    CHARGER = "charger"  # charge points, through the site that runs them
    SESSION = "session"  # sessions, through their charger
    PARK = "park"  # parks and their energy, through their member
    COOPERATIVE = "cooperative"  # a cooperative and its report
    SITE = "site"  # a site's allocation
    ACCOUNT = "account"  # charging accounts, through their cooperative
    LIVE = "live"  # the live overview: each part filtered as above


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    name: str
    handler: Handler
    summary: str
    roles: frozenset[str] = OPERATOR
    scope: Scope = Scope.NONE
    body: type[BaseModel] | None = None
    free_body: bool = False  # any JSON object (an OCPP payload)
    upload: bool = False  # a file in the body: multipart/form-data (or, for PUT, the raw bytes)
    response: type[BaseModel] | None = None
    many: bool = False
    free_response: bool = False
    status: int = 200
    errors: tuple[int, ...] = ()
    query: tuple[tuple[str, str, str], ...] = ()  # (name, type, description)
    tag: str = "chargepoints"
    public: bool = False  # no token needed
    paged: bool = False  # ?limit=&offset=, X-Total-Count and Link headers
    csv: bool = False  # ?format=csv answers text/csv
    documents: tuple[str, ...] = ()  # more ?format= choices, each a content type: ("text/html", "application/pdf")
    stream: bool = False  # text/event-stream
    media_type: str | None = None  # an answer that is not JSON: its content type (a string in the document)
    websocket: bool = False  # an upgrade, not an HTTP answer: OpenAPI 3.1 has no words for it
    extra: dict[str, Any] = field(default_factory=dict)
