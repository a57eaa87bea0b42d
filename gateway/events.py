"""In-process event hub: domain events fan out to subscribers in order."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Subscriber = Callable[[object], Awaitable[None]]


class EventHub:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def publish(self, event: object) -> None:
        for subscriber in self._subscribers:
            try:
                await subscriber(event)
            except Exception:
                log.exception("event subscriber %r failed on %r", subscriber, event)
