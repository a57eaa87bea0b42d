"""Calls across instances: a command for a charger held elsewhere travels on `instances/{owner}/rpc` and comes
back on `instances/{me}/reply`; each instance learns where chargers are from their retained status."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from ocpp.exceptions import OCPPError

from chargepoints import events as cp_events
from chargepoints.central import CentralSystem
from chargepoints.errors import (
    CallFailed,
    CallTimeout,
    ChargePointError,
    NotAccepted,
    NotConnected,
    UnknownChargePoint,
)
from gateway.bus import Bus
from gateway.cluster.events import decode_event, encode_event
from gateway.topics import Topics

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)


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
        location = self.locations.get(charge_point_id)
        # our own status, echoed by the broker, may still say connected: here it is not, at once
        return location if location != self.instance_id else None

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
    if kind == "NotAccepted":
        return NotAccepted(message)
    if kind == "CallTimeout":
        return CallTimeout(message)
    if kind == "OCPPError":
        return CallFailed(code, message)
    return ChargePointError(message)
