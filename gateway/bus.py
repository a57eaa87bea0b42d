"""The message bus: MQTT through aiomqtt, and the embedded amqtt broker.

`Bus.run()` owns the broker connection: it connects, (re)subscribes, forwards
queued publications and dispatches incoming messages, and reconnects with
exponential backoff when the broker goes away. `publish()` never blocks and
never raises: messages wait in a bounded queue while the broker is away (the
oldest are dropped and counted when it overflows).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiomqtt

from gateway.topics import publishable

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], Awaitable[None]]
IN_FLIGHT = 100  # QoS 1 publications awaiting their PUBACK at once
ROUTES_KEPT = 100_000  # topics whose handlers are remembered (a charger's status topic each, inverters', ...)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _quiet_broker_shutdown(record: logging.LogRecord) -> bool:
    """amqtt logs its own orderly shutdown (the broadcast task being cancelled) as an error."""
    return not (record.exc_info and record.exc_info[0] is asyncio.CancelledError)


@asynccontextmanager
async def embedded_broker(host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[tuple[str, int]]:
    """Run an amqtt broker on `host:port` (a free port when 0); yields (host, port)."""
    from amqtt.broker import Broker

    port = port or free_port(host)
    logging.getLogger("amqtt.broker").addFilter(_quiet_broker_shutdown)
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
    )
    await broker.start()
    try:
        yield host, port
    finally:
        await broker.shutdown()


async def _enter(client: aiomqtt.Client) -> None:
    """Connect, letting a cancellation wait for the handshake to end.

    Cancelling aiomqtt's connect half-way leaves a cancelled future that its
    disconnect callback later trips over (an error logged by asyncio), so
    the handshake is shielded and the connection closed before re-raising.
    """
    connect = asyncio.ensure_future(client.__aenter__())
    try:
        await asyncio.shield(connect)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await connect
            await client.__aexit__(None, None, None)
        raise


def payload_of(message: aiomqtt.Message) -> bytes:
    """A received message's payload as bytes."""
    return message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()


def _no_delay(client: aiomqtt.Client) -> None:
    """Send each packet at once: paho leaves Nagle's algorithm on, which holds small QoS 1 publications back
    until the previous ones are acknowledged (readings passed between instances went out ~50 ms a window of
    100 without this; benchmarks/RESULTS.md)."""
    sock = client._client.socket()  # noqa: SLF001 - paho's socket; aiomqtt has no option for this
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _cancel_requests() -> int:
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0


def _raise_if_cancelling(baseline: int = 0) -> None:
    """Python 3.11's asyncio.wait_for (used inside aiomqtt) can swallow a cancellation
    that races with the awaited result; honour it here instead. `baseline` is the
    count of cancel requests the task carried before (3.11's TaskGroup leaves one
    behind after a failed child), so that only a new request counts."""
    if _cancel_requests() > baseline:
        raise asyncio.CancelledError


@dataclass(slots=True)
class _Outgoing:
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Bus:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str = "coopgrid",
        clean_session: bool = True,
        max_backoff_s: float = 30.0,
        max_queued: int = 100_000,  # a reconnect storm of 10,000 chargers queues about three messages each
    ) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id
        self.clean_session = clean_session
        self.max_backoff_s = max_backoff_s
        self._handlers: list[tuple[str, int, Handler]] = []
        self._unwanted: list[str] = []
        self._routes: dict[str, list[tuple[str, Handler]]] = {}  # topic -> its handlers
        self._announced: dict[str, bytes] = {}  # retained, published on every connection
        self.will: aiomqtt.Will | None = None  # the broker publishes it if this process vanishes
        self._outgoing: deque[_Outgoing] = deque(maxlen=max_queued)
        # Incoming messages outlive a connection: the client acknowledges a QoS 1 message as soon as it
        # arrives, so what it had received but not yet handed over when the broker went away is handled
        # from this queue after the reconnect instead of being dropped with the old client.
        self._inbox: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()
        self._wakeup = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.dropped = 0
        self.failed = 0  # publications refused or failed for themselves (not for a lost connection)
        self.received = 0
        self._handling = False

    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None:
        """Register a handler; (re)subscribed on every connection."""
        self._handlers.append((topic_filter, qos, handler))
        self._routes.clear()

    def _route(self, topic: aiomqtt.Topic) -> list[tuple[str, Handler]]:
        """The handlers whose filters match `topic`, worked out once per topic (matching every filter took
        1.8 us a filter, per message)."""
        routes = self._routes.get(topic.value)
        if routes is None:
            if len(self._routes) >= ROUTES_KEPT:
                self._routes.clear()
            routes = self._routes[topic.value] = [(f, h) for f, _, h in self._handlers if topic.matches(f)]
        return routes

    @property
    def queued(self) -> int:
        """Publications waiting for the broker (or for its acknowledgement)."""
        return len(self._outgoing)

    def set_will(self, topic: str, payload: bytes | str) -> None:
        """What the broker publishes (retained, QoS 1) should this process vanish; from the next connection."""
        self.will = aiomqtt.Will(topic, payload, qos=1, retain=True)

    def announce(self, topic: str, payload: bytes | str) -> None:
        """A retained QoS 1 message published now and again on every connection (after a will may have
        replaced it while the connection was lost)."""
        self._announced[topic] = payload.encode() if isinstance(payload, str) else payload
        if self.connected.is_set():
            self.publish(topic, self._announced[topic], qos=1, retain=True)

    async def flush(self, within_s: float = 5.0) -> bool:
        """Wait until every queued publication is confirmed; False if the broker is away or it took longer."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while self._outgoing:
            if loop.time() > deadline or not self.connected.is_set():
                return False
            await asyncio.sleep(0.02)
        return True

    def unsubscribe_on_connect(self, topic_filter: str) -> None:
        """Drop a subscription that a persistent session may still hold from an earlier configuration."""
        self._unwanted.append(topic_filter)

    def publish(self, topic: str, payload: bytes | str | dict[str, Any], *, qos: int = 0, retain: bool = False) -> None:
        if not publishable(topic):  # built from outside data somewhere gateway.topics was not used
            self._failed(topic, ValueError("not a topic one may publish to"))
            return
        if isinstance(payload, dict):
            payload = json.dumps(payload, separators=(",", ":"), default=str)
        if isinstance(payload, str):
            payload = payload.encode()
        if len(self._outgoing) == self._outgoing.maxlen:
            self.dropped += 1
        self._outgoing.append(_Outgoing(topic, payload, qos, retain))
        self._wakeup.set()

    async def run(self) -> None:
        """Stay connected until cancelled."""
        backoff = 0.5
        while True:
            client = aiomqtt.Client(
                self.host,
                self.port,
                identifier=self.client_id,
                clean_session=self.clean_session,
                keepalive=30,
                timeout=10,
                queue_type=self._inbox_factory,  # type: ignore[arg-type]
                max_inflight_messages=IN_FLIGHT,  # paho's default, 20, held back the rest of a window
                will=self.will,
            )
            client.pending_calls_threshold = IN_FLIGHT  # aiomqtt warns beyond 10 publications awaiting their PUBACK
            baseline = _cancel_requests()
            try:
                await _enter(client)
                _no_delay(client)
                try:
                    log.info("bus connected to mqtt://%s:%d", self.host, self.port)
                    backoff = 0.5
                    _raise_if_cancelling(baseline)
                    for topic_filter, qos, _ in self._handlers:
                        await client.subscribe(topic_filter, qos=qos)
                        _raise_if_cancelling(baseline)
                    for topic_filter in self._unwanted:
                        await client.unsubscribe(topic_filter)
                        _raise_if_cancelling(baseline)
                    for topic, payload in self._announced.items():
                        self._outgoing.appendleft(_Outgoing(topic, payload, 1, True))  # ahead of the backlog
                    self._client = client
                    self.connected.set()
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self._send_loop(client))
                        group.create_task(self._receive_loop(client))
                finally:
                    self.connected.clear()
                    self._client = None
                    with contextlib.suppress(aiomqtt.MqttError):
                        await client.__aexit__(None, None, None)
            except* aiomqtt.MqttError as errors:
                self.reconnects += 1
                log.warning(
                    "bus: broker mqtt://%s:%d unavailable (%s); retrying in %.1fs",
                    self.host,
                    self.port,
                    errors.exceptions[0],
                    backoff,
                )
            except* Exception as errors:  # a fault of ours must not end the bus for everyone: reconnect
                self.reconnects += 1
                log.error("bus: connection cycle failed; reconnecting", exc_info=errors.exceptions[0])
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)

    async def leave(self, topic_filters: list[str], within_s: float = 5.0) -> bool:
        """Unsubscribe now (not at the next connection), then handle what arrived before and send what that
        produced; False if the broker is away or that took longer than `within_s`."""
        client = self._client
        if client is None:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        try:
            for topic_filter in topic_filters:
                await client.unsubscribe(topic_filter, timeout=within_s)
        except aiomqtt.MqttError:
            return False
        while not self._inbox.empty() or self._handling:
            if loop.time() > deadline or not self.connected.is_set():
                return False
            await asyncio.sleep(0.02)
        return await self.flush(max(0.0, deadline - loop.time()))

    async def take_over_session(
        self,
        client_id: str,
        *,
        leave: list[str],
        handle: Handler,
        keep_going: Callable[[], bool],
        idle_s: float,
    ) -> None:
        """Connect as another client's persistent session (a member that went away), leave the `leave`
        filters (the broker assigns it no more) and hand what waits there, matching them, to `handle`.

        Each message is acknowledged once handled: should the member come back meanwhile (its connection
        then replaces this one), what was not handled yet stays in its session for it. Ends when
        `keep_going()` turns false, after `idle_s` without a message, or when the member takes its session.
        """
        client = aiomqtt.Client(self.host, self.port, identifier=client_id, clean_session=False, keepalive=30)
        client._client.manual_ack_set(True)  # noqa: SLF001 - paho's option; aiomqtt has none for it
        try:
            async with client:
                await client.unsubscribe(leave)
                messages = client.messages
                while keep_going():
                    try:
                        async with asyncio.timeout(idle_s):
                            message = await anext(messages)
                    except TimeoutError:
                        break
                    if any(message.topic.matches(topic_filter) for topic_filter in leave):
                        await handle(message.topic.value, payload_of(message))
                    client._client.ack(message.mid, message.qos)  # noqa: SLF001
        except aiomqtt.MqttError as exc:  # e.g. the member came back and took its session again
            log.warning("bus: taking over the session of %s ended early (%s)", client_id, exc)
        finally:
            disconnected = client._disconnected  # noqa: SLF001 - replaced by the member's own connection:
            if disconnected.done() and not disconnected.cancelled():
                disconnected.exception()  # seen, not an error for asyncio to log

    def _inbox_factory(self, maxsize: int = 0) -> asyncio.Queue[aiomqtt.Message]:
        return self._inbox

    async def _send_loop(self, client: aiomqtt.Client, window: int = IN_FLIGHT) -> None:
        """Publish in order, up to `window` messages in flight (one PUBACK at a time was the bus's limit).

        A message leaves the queue once the broker confirmed it; after a failure the unconfirmed ones are
        sent again on the next connection (QoS 1: at least once).
        """
        while True:
            while self._outgoing:
                batch = [self._outgoing[i] for i in range(min(window, len(self._outgoing)))]
                results = await asyncio.gather(
                    *(client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain) for m in batch),
                    return_exceptions=True,
                )
                for item, result in zip(batch, results, strict=True):
                    if isinstance(result, aiomqtt.MqttError | asyncio.CancelledError):
                        raise result  # the connection is gone: sent again after the reconnect
                    if isinstance(result, BaseException):  # this publication only: it is dropped, counted, logged
                        self._failed(item.topic, result)
                    if self._outgoing and self._outgoing[0] is item:
                        self._outgoing.popleft()
                _raise_if_cancelling()
            self._wakeup.clear()
            await self._wakeup.wait()

    def _failed(self, topic: str, error: BaseException) -> None:
        """A publication that can never succeed (a bad topic or payload): counted and logged, never raised, so
        that one charger or reading cannot stop the bus for everyone."""
        self.failed += 1
        level = logging.WARNING if self.failed <= 10 or self.failed % 1000 == 0 else logging.DEBUG
        log.log(level, "bus: publication to %.120r failed (%s: %s); %d so far", topic, type(error).__name__, error,
                self.failed)  # fmt: skip

    async def _receive_loop(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self.received += 1
            self._handling = True
            topic = message.topic.value
            payload = payload_of(message)
            for topic_filter, handler in self._route(message.topic):
                try:
                    await handler(topic, payload)
                except Exception:
                    log.exception("bus: handler for %s failed on %s", topic_filter, topic)
            self._handling = False


__all__ = ["Bus", "embedded_broker", "free_port", "payload_of"]
