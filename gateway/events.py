"""In-process event hub: domain events fan out to subscribers in order.

A subscriber is a plain function or a coroutine function; a plain one is called without a coroutine made
and awaited for it (most subscribers only update state in memory, on every meter sample). A subscriber may
name the event types it handles; an event then reaches only the subscribers of its type (the list per type
is worked out once, at the type's first event), so a meter sample, the most frequent event, is not handed
to subscribers that only follow batteries or connections.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

Subscriber = Callable[[object], Awaitable[None] | None]


class Listener(Protocol):
    """A part that hears events through its `on_event`; it may name the types it handles as `event_types`."""

    def on_event(self, event: object) -> Any: ...


class EventHub:
    def __init__(self) -> None:
        self._subscribers: list[tuple[Subscriber, bool, tuple[type, ...] | None]] = []
        self._routes: dict[type, tuple[tuple[Subscriber, bool], ...]] = {}

    def subscribe(self, subscriber: Subscriber, types: tuple[type, ...] | None = None) -> None:
        """`subscriber` hears every event, or only instances of `types` when given."""
        self._subscribers.append((subscriber, inspect.iscoroutinefunction(subscriber), types))
        self._routes.clear()

    def attach(self, listener: Listener) -> None:
        """`listener.on_event` hears the types `listener.event_types` names (every event when it names none)."""
        self.subscribe(listener.on_event, getattr(listener, "event_types", None))

    def _route(self, kind: type) -> tuple[tuple[Subscriber, bool], ...]:
        route = tuple((s, a) for s, a, types in self._subscribers if types is None or issubclass(kind, types))
        self._routes[kind] = route
        return route

    async def publish(self, event: object) -> None:
        route = self._routes.get(type(event))
        if route is None:
            route = self._route(type(event))
        for subscriber, awaited in route:
            try:
                if awaited:
                    await subscriber(event)  # type: ignore[misc]
                else:
                    subscriber(event)
            except Exception:
                log.exception("event subscriber %r failed on %r", subscriber, event)
