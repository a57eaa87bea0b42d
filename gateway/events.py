"""In-process event hub: domain events fan out to subscribers in order.

A subscriber may name the event types it handles; an event then reaches only the subscribers of its type
(the list per type is worked out once, at the type's first event), so a meter sample, the most frequent
event, is not handed to subscribers that only follow batteries or connections.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Subscriber = Callable[[object], Awaitable[None]]


class EventHub:
    def __init__(self) -> None:
        self._subscribers: list[tuple[Subscriber, tuple[type, ...] | None]] = []
        self._routes: dict[type, tuple[Subscriber, ...]] = {}

    def subscribe(self, subscriber: Subscriber, types: tuple[type, ...] | None = None) -> None:
        """`subscriber` hears every event, or only instances of `types` when given."""
        self._subscribers.append((subscriber, types))
        self._routes.clear()

    def _route(self, kind: type) -> tuple[Subscriber, ...]:
        route = tuple(s for s, types in self._subscribers if types is None or issubclass(kind, types))
        self._routes[kind] = route
        return route

    async def publish(self, event: object) -> None:
        route = self._routes.get(type(event))
        if route is None:
            route = self._route(type(event))
        for subscriber in route:
            try:
                await subscriber(event)
            except Exception:
                log.exception("event subscriber %r failed on %r", subscriber, event)
