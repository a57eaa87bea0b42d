"""Several CoopGrid instances on one broker and one database.

- **Calls across instances**: every instance publishes which charger it holds
  (the retained `chargers/{id}/status` carries `instance`); a command for a
  charger held elsewhere travels as a request on `instances/{owner}/rpc` with a
  correlation id and comes back on `instances/{me}/reply`, with a timeout.
- **Events across instances**: charge-point events are mirrored on
  `events/chargepoints` so that the scheduler, wherever it runs, sees every
  session and meter sample of the cooperative.
- **Solar telemetry parsed once** (`mqtt.share_group`): the raw topics are
  subscribed as `$share/{group}/...`, so the broker hands each message to one
  instance; that one parses and checks it and passes the reading (or the
  rejection, raw payload included) on `cluster/solar/readings`, which every
  instance applies: live power, liveness and the energy intervals stay whole
  everywhere, while the parsing is spread.
- **One scheduler**: the cooperative-wide scheduler (it pools green power
  across sites) runs where a PostgreSQL advisory lock is held; when that
  instance dies, its database session ends and another takes over within a
  couple of seconds. With SQLite there is one instance, always the leader.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import json
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiomqtt
from ocpp.exceptions import OCPPError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from chargepoints import events as cp_events
from chargepoints.central import CentralSystem
from chargepoints.errors import CallFailed, CallTimeout, ChargePointError, NotConnected, UnknownChargePoint
from gateway.bus import Bus, payload_of
from gateway.topics import Topics
from solar.ingest import KEPT_BYTES, Parsed, Reading, Rejected, SolarIngest

log = logging.getLogger(__name__)

_EVENT_TYPES = {
    cls.__name__: cls
    for cls in (
        cp_events.ChargerConnected,
        cp_events.ChargerDisconnected,
        cp_events.ConnectorStatusChanged,
        cp_events.TransactionStarted,
        cp_events.TransactionStopped,
        cp_events.MeterSample,
    )
}


def encode_event(event: object, instance_id: str) -> dict[str, Any] | None:
    name = type(event).__name__
    if name not in _EVENT_TYPES:
        return None
    fields = {
        f.name: (
            getattr(event, f.name).isoformat()
            if isinstance(getattr(event, f.name), datetime)
            else getattr(event, f.name)
        )
        for f in dataclasses.fields(event)  # type: ignore[arg-type]
    }
    return {"type": name, "instance": instance_id, "event": fields}


def decode_event(message: dict[str, Any]) -> object:
    cls = _EVENT_TYPES[message["type"]]
    values = dict(message["event"])
    values["ts"] = datetime.fromisoformat(values["ts"])
    return cls(**values)


class Cluster:
    def __init__(
        self,
        bus: Bus,
        central: CentralSystem,
        *,
        prefix: str,
        instance_id: str,
        timeout_s: float = 30.0,
        deliver_remote_event: Callable[[object], Awaitable[None]] | None = None,
    ) -> None:
        self.bus = bus
        self.central = central
        self.prefix = prefix
        self.instance_id = instance_id
        self.timeout_s = timeout_s
        self.locations: dict[str, str] = {}
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._deliver = deliver_remote_event
        self._answering: set[asyncio.Task[None]] = set()
        self._meters: dict[tuple[str, int], cp_events.MeterSample] = {}  # mirrored, coalesced per connector
        self.topics = Topics(prefix)
        bus.subscribe(self.topics.charger_status_filter, self._on_status, qos=1)
        bus.subscribe(self.topics.instance_rpc(instance_id), self._on_request, qos=1)
        bus.subscribe(self.topics.instance_reply(instance_id), self._on_reply, qos=1)
        bus.subscribe(f"{prefix}/events/chargepoints", self._on_event_message, qos=1)

    # -- locations ---------------------------------------------------------------------
    async def _on_status(self, topic: str, payload: bytes) -> None:
        try:
            status = json.loads(payload)
            charge_point_id = self.topics.charger_of(topic)
            if status.get("connected") and isinstance(status.get("instance"), str):
                self.locations[charge_point_id] = status["instance"]
                self.central.state(charge_point_id)  # listed here at once, not only after the records reload
            elif self.locations.get(charge_point_id) == status.get("instance"):
                self.locations.pop(charge_point_id, None)
        except (ValueError, AttributeError, IndexError):
            log.warning("cluster: unreadable status on %s", topic)

    def owner(self, charge_point_id: str) -> str | None:
        if self.central.is_connected(charge_point_id):
            return self.instance_id
        return self.locations.get(charge_point_id)

    # -- events ----------------------------------------------------------------------------
    async def mirror(self, event: object) -> None:
        """Publish a local charge-point event for the other instances.

        Meter samples are coalesced: the newest per connector goes out with `flush_meters()` (about once a
        second), or just before any other event of its charger, so that the order per charger holds. One
        message per sample flooded the bus's queue under load, which then dropped the oldest messages,
        charger locations among them.
        """
        if isinstance(event, cp_events.MeterSample):
            self._meters[(event.charge_point_id, event.connector_id)] = event
            return
        charge_point_id = getattr(event, "charge_point_id", None)
        for key in [k for k in self._meters if k[0] == charge_point_id]:
            self._publish_event(self._meters.pop(key))
        self._publish_event(event)

    def flush_meters(self) -> None:
        """Publish the newest meter sample of every connector metered since the last flush."""
        meters, self._meters = self._meters, {}
        for event in meters.values():
            self._publish_event(event)

    def _publish_event(self, event: object) -> None:
        message = encode_event(event, self.instance_id)
        if message is not None:
            self.bus.publish(f"{self.prefix}/events/chargepoints", message, qos=1)

    async def _on_event_message(self, topic: str, payload: bytes) -> None:
        try:
            message = json.loads(payload)
            if message.get("instance") == self.instance_id or self._deliver is None:
                return
            event = decode_event(message)
        except (ValueError, KeyError, TypeError):
            log.warning("cluster: unreadable event on %s", topic)
            return
        await self._deliver(event)

    # -- calls ---------------------------------------------------------------------------------
    async def call(self, charge_point_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._route(charge_point_id, {"op": "call", "action": action, "payload": payload})

    async def set_current_limit(
        self,
        charge_point_id: str,
        connector_id: int,
        limit_a: float,
        transaction_id: int | None = None,
        phases: int | None = None,
    ) -> str:
        request = {"op": "limit", "connector_id": connector_id, "limit_a": limit_a, "transaction_id": transaction_id}
        answer = await self._route(charge_point_id, {**request, "phases": phases})
        return str(answer.get("status", "Unknown"))

    async def _route(self, charge_point_id: str, request: dict[str, Any]) -> dict[str, Any]:
        owner = self.owner(charge_point_id)
        if owner is None or owner == self.instance_id:
            return await self._execute(charge_point_id, request)
        correlation = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[correlation] = future
        self.bus.publish(
            self.topics.instance_rpc(owner),
            {
                **request,
                "charge_point_id": charge_point_id,
                "correlation_id": correlation,
                "reply_to": self.topics.instance_reply(self.instance_id),
            },
            qos=1,
        )
        try:
            answer = await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError as exc:
            raise CallTimeout(f"instance {owner} holding {charge_point_id} did not answer") from exc
        finally:
            self._pending.pop(correlation, None)
        if "error" in answer:
            raise _error_from(answer["error"])
        return dict(answer["result"])

    async def _execute(self, charge_point_id: str, request: dict[str, Any]) -> dict[str, Any]:
        if request["op"] == "limit":
            status = await self.central.set_current_limit(
                charge_point_id,
                request["connector_id"],
                request["limit_a"],
                request.get("transaction_id"),
                request.get("phases"),
            )
            return {"status": status}
        return await self.central.call(charge_point_id, request["action"], request["payload"])

    async def _on_request(self, topic: str, payload: bytes) -> None:
        try:
            request = json.loads(payload)
            reply_to, correlation = request["reply_to"], request["correlation_id"]
        except (ValueError, KeyError, TypeError):
            log.warning("cluster: unreadable request on %s", topic)
            return

        async def answer() -> None:
            try:
                result = await self._execute(request["charge_point_id"], request)
                reply: dict[str, Any] = {"correlation_id": correlation, "result": result}
            except CallFailed as exc:
                reply = {
                    "correlation_id": correlation,
                    "error": {"kind": "CallFailed", "code": exc.code, "message": exc.description},
                }
            except OCPPError as exc:
                reply = {
                    "correlation_id": correlation,
                    "error": {"kind": "OCPPError", "code": exc.code, "message": str(exc.description)},
                }
            except ChargePointError as exc:
                reply = {
                    "correlation_id": correlation,
                    "error": {"kind": type(exc).__name__, "code": type(exc).__name__, "message": str(exc)},
                }
            self.bus.publish(reply_to, reply, qos=1)

        # Answer in the background: the bus's receive loop must not wait on a charger.
        task = asyncio.get_running_loop().create_task(answer())
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _on_reply(self, topic: str, payload: bytes) -> None:
        try:
            reply = json.loads(payload)
            future = self._pending.get(reply["correlation_id"])
        except (ValueError, KeyError, TypeError):
            log.warning("cluster: unreadable reply on %s", topic)
            return
        if future is not None and not future.done():
            future.set_result(reply)


def _error_from(error: dict[str, Any]) -> Exception:
    kind, code, message = error.get("kind"), str(error.get("code")), str(error.get("message", ""))
    if kind == "CallFailed":
        return CallFailed(code, message)
    if kind == "NotConnected":
        return NotConnected(message)
    if kind == "UnknownChargePoint":
        return UnknownChargePoint(message)
    if kind == "CallTimeout":
        return CallTimeout(message)
    if kind == "OCPPError":
        return CallFailed(code, message)
    return ChargePointError(message)


async def hold_leadership(
    engine: AsyncEngine,
    lock_key: int,
    work: Callable[[], Awaitable[None]],
    *,
    poll_s: float = 2.0,
    on_change: Callable[[bool], None] | None = None,
) -> None:
    """Run `work` only while this process holds a PostgreSQL advisory lock (forever on SQLite).

    The lock lives as long as the database session holding it; the session is
    checked every `poll_s`, and `work` is cancelled as soon as it is lost.
    """
    if engine.dialect.name != "postgresql":
        if on_change:
            on_change(True)
        await work()
        return
    while True:
        try:
            async with engine.connect() as connection:
                while not (await connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key})).scalar():
                    await connection.commit()
                    await asyncio.sleep(poll_s)
                await connection.commit()
                log.info("cluster: this instance now runs the scheduler")
                if on_change:
                    on_change(True)
                async with asyncio.TaskGroup() as group:
                    worker = group.create_task(work())
                    try:
                        while not worker.done():
                            await asyncio.sleep(poll_s)
                            await connection.execute(text("SELECT 1"))
                            await connection.commit()
                    finally:
                        worker.cancel()
        except* (OSError, ConnectionError) as errors:
            log.warning("cluster: lost the database while leading (%s); retrying", errors.exceptions[0])
        except* Exception as errors:  # the driver's own connection errors
            log.warning("cluster: leadership session failed (%s); retrying", errors.exceptions[0])
        finally:
            if on_change:
                on_change(False)
        await asyncio.sleep(poll_s)


# -- solar telemetry parsed once, applied everywhere -------------------------------------------


def encode_parsed(item: Parsed, instance_id: str) -> bytes:
    """A parsed message as it goes to every instance; `by` names the instance that parsed it, for whoever
    watches the topic (the receivers need not know)."""
    if isinstance(item, Rejected):
        message: dict[str, Any] = {
            "k": "rejected",
            "rx": item.received.isoformat(),
            "topic": item.topic,
            "reason": item.reason,
            "raw": base64.b64encode(item.payload).decode("ascii"),
        }
    else:
        message = {
            "k": item.kind,
            "park": item.park_id,
            "inv": item.inverter_id,
            "ts": item.ts.isoformat(),
            "rx": item.received.isoformat(),
            "p": item.power_w,
            "e": item.energy_wh,
            "on": item.online,
        }
    message["by"] = instance_id
    return json.dumps(message, separators=(",", ":")).encode()


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("a time is ISO-8601 text")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("a time needs its offset")
    return parsed


def _number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"not a finite, non-negative number: {value!r}")
    return float(value)


def decode_parsed(payload: bytes) -> Parsed:
    """The inverse of `encode_parsed`; ValueError on anything else."""
    try:
        message = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")
    kind = message.get("k")
    if kind == "rejected":
        topic, reason, raw = message.get("topic"), message.get("reason"), message.get("raw")
        if not (isinstance(topic, str) and isinstance(reason, str) and isinstance(raw, str)):
            raise ValueError("a rejection needs topic, reason and raw as text")
        try:
            payload_bytes = base64.b64decode(raw, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"raw is not base64: {exc}") from exc
        return Rejected(_time(message.get("rx")), topic, reason, payload_bytes)
    if kind not in ("sample", "partial", "state"):
        raise ValueError(f"unknown kind {kind!r}")
    park, inverter, online = message.get("park"), message.get("inv"), message.get("on")
    if not (isinstance(park, str) and isinstance(inverter, str)):
        raise ValueError("park and inv must be text")
    if online is not None and not isinstance(online, bool):
        raise ValueError("on must be true, false or null")
    return Reading(
        park,
        inverter,
        kind,
        _time(message.get("ts")),
        _time(message.get("rx")),
        _number(message.get("p")),
        _number(message.get("e")),
        online,
    )


ADOPTION_IDLE_S = 1.0  # a taken-over session is drained once nothing came for this long


class SharedIngest:
    """Solar telemetry on `$share/{group}/...`: parsed by the instance the broker picks, applied by all.

    Readings of one inverter parsed by different instances may reach an
    instance out of order; the ingest keeps the newest and counts the older
    (a lifetime counter loses nothing by it).

    Membership: each instance announces itself (retained) on
    `cluster/members/{instance}`, with a will that says `offline` if it
    vanishes. At an orderly stop a follower leaves the share group (`left`),
    so the others take its share at once; the leader stays in it and says
    `offline`, so that with every instance stopped the broker still keeps the
    telemetry in its session. The broker keeps assigning a member that is
    away its share, queued in its session: so the instance that leads takes
    over the session of every member that went `offline` (connecting with
    its client id), parses what waited there, and takes the member out of the
    share group. A member that comes back subscribes again.
    """

    def __init__(
        self,
        bus: Bus,
        solar: SolarIngest,
        *,
        prefix: str,
        group: str,
        instance_id: str,
        client_id: str,
        leading: Callable[[], bool] = lambda: False,
        may_adopt: Callable[[], bool] | None = None,
    ) -> None:
        self.bus = bus
        self.solar = solar
        self.instance_id = instance_id
        self.client_id = client_id
        self.topic = f"{prefix}/cluster/solar/readings"
        self.members_prefix = f"{prefix}/cluster/members/"
        self.members: dict[str, tuple[str, str]] = {}  # instance -> (state, client id)
        self.adopted: dict[str, int] = {}  # instance -> queued messages taken over from its session
        self._leading = leading
        self._may_adopt = may_adopt or leading  # elected (PostgreSQL): with SQLite every instance leads
        self._adopting: set[asyncio.Task[None]] = set()
        self.shared = [f"$share/{group}/{topic_filter}" for topic_filter in solar.topic_filters]
        for shared, topic_filter in zip(self.shared, solar.topic_filters, strict=True):
            bus.subscribe(shared, solar.handle, qos=1)
            bus.unsubscribe_on_connect(topic_filter)  # a session kept from a run without sharing still has it
        bus.subscribe(self.topic, self._on_reading, qos=1)
        bus.subscribe(f"{self.members_prefix}+", self._on_member, qos=1)
        bus.will = aiomqtt.Will(self._member_topic, self._state("offline"), qos=1, retain=True)
        bus.announce(self._member_topic, self._state("online"))
        solar.forward = self._forward

    @property
    def _member_topic(self) -> str:
        return f"{self.members_prefix}{self.instance_id}"

    def _state(self, state: str) -> bytes:
        return json.dumps({"state": state, "client_id": self.client_id}).encode()

    async def stop(self) -> bool:
        """At an orderly stop: a follower leaves the share group (the others take its share at once); the
        leader stays in it and says it is offline (another instance, if any is left, takes over its share)."""
        for task in self._adopting:
            task.cancel()
        if self._leading():
            self.bus.publish(self._member_topic, self._state("offline"), qos=1, retain=True)
            return await self.bus.flush()
        left = await self.bus.leave(self.shared)
        self.bus.publish(self._member_topic, self._state("left"), qos=1, retain=True)
        left = await self.bus.flush() and left
        log.info("cluster: left the shared solar ingest%s", "" if left else " (not confirmed)")
        return left

    async def _forward(self, item: Parsed) -> None:
        self.bus.publish(self.topic, encode_parsed(item, self.instance_id), qos=1)

    async def _on_reading(self, topic: str, payload: bytes) -> None:
        try:
            item = decode_parsed(payload)
        except ValueError:  # counted and kept aside like any rejected telemetry (the first one logged)
            item = Rejected(self.solar.clock(), topic, "unreadable_reading", payload[:KEPT_BYTES])
        await self.solar.apply(item)

    # -- members that went away without leaving --------------------------------------------------
    async def _on_member(self, topic: str, payload: bytes) -> None:
        instance = topic.removeprefix(self.members_prefix)
        if instance == self.instance_id:
            return
        try:
            message = json.loads(payload)
            state, client_id = str(message["state"]), str(message["client_id"])
        except (ValueError, KeyError, TypeError):
            log.warning("cluster: unreadable member state on %s", topic)
            return
        self.members[instance] = (state, client_id)
        if state != "offline":
            self.adopted.pop(instance, None)
        self.adopt_orphans()

    def adopt_orphans(self) -> None:
        """Where this instance leads: take over the share of every member that went offline without leaving
        (called as members change, and when this instance becomes the leader)."""
        if not self._may_adopt():
            return
        for instance, (state, client_id) in self.members.items():
            if state == "offline" and instance not in self.adopted:
                self.adopted[instance] = 0
                task = asyncio.create_task(self._adopt(instance, client_id), name=f"adopt-{instance}")
                self._adopting.add(task)
                task.add_done_callback(self._adopting.discard)

    def _away(self, instance: str) -> bool:
        return self.members.get(instance, ("",))[0] == "offline"

    async def _adopt(self, instance: str, client_id: str) -> None:
        if not self._away(instance):
            return
        log.warning("cluster: %s went away in the share group; taking over its queued solar telemetry", instance)
        client = aiomqtt.Client(self.bus.host, self.bus.port, identifier=client_id, clean_session=False, keepalive=30)
        # Each message is acknowledged once handled: should the member come back meanwhile (its connection
        # then replaces this one), what was not handled yet stays in its session for it.
        client._client.manual_ack_set(True)  # noqa: SLF001 - paho's option; aiomqtt has none for it
        try:
            async with client:
                await client.unsubscribe(self.shared)  # the broker assigns it no more; what waits still comes
                messages = client.messages
                while self._away(instance):
                    try:
                        async with asyncio.timeout(ADOPTION_IDLE_S):
                            message = await anext(messages)
                    except TimeoutError:
                        break
                    if any(message.topic.matches(shared) for shared in self.shared):
                        await self.solar.handle(message.topic.value, payload_of(message))
                        self.adopted[instance] = self.adopted.get(instance, 0) + 1
                    client._client.ack(message.mid, message.qos)  # noqa: SLF001
        except aiomqtt.MqttError as exc:  # e.g. the member came back and took its session again
            log.warning("cluster: taking over %s's session ended early (%s)", instance, exc)
        finally:
            disconnected = client._disconnected  # noqa: SLF001 - see below
            if disconnected.done() and not disconnected.cancelled():
                disconnected.exception()  # replaced by the member's own connection: seen, not an error to log
        log.warning("cluster: took over %d queued solar messages of %s", self.adopted.get(instance, 0), instance)


__all__ = ["Cluster", "SharedIngest", "decode_parsed", "encode_parsed", "hold_leadership"]
