"""Solar telemetry parsed once (`mqtt.share_group`): the broker hands each raw message to one instance, which
parses it and passes the reading (or the rejection) on `cluster/solar/readings` to every instance; the leader
takes over the share of a member that went away."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gateway.bus import Bus
from solar.ingest import KEPT_BYTES, Parsed, Reading, Rejected, SolarIngest

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)


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
        bus.set_will(self._member_topic, self._state("offline"))
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

        async def handle(topic: str, payload: bytes) -> None:
            await self.solar.handle(topic, payload)
            self.adopted[instance] = self.adopted.get(instance, 0) + 1

        await self.bus.take_over_session(
            client_id,
            leave=self.shared,
            handle=handle,
            keep_going=lambda: self._away(instance),
            idle_s=ADOPTION_IDLE_S,
        )
        log.warning("cluster: took over %d queued solar messages of %s", self.adopted.get(instance, 0), instance)
