"""One OCPP-J connection, protocol-version independent: framing, validation, dispatch, calls.

Subclasses (v16.Session16, v201.Session201) register handlers with `@handles`;
a handler takes the Call's payload (camelCase, as on the wire) and returns the
CallResult payload. Rules of this module:
- the receive loop never waits on the charger: work that calls the charger back
  is queued with `after_reply()` and runs in the session's TaskGroup once the
  reply has gone out;
- one CSMS-initiated call is outstanding at a time (OCPP-J); others queue;
- a frame we cannot use gets the CallError the specification names, and the
  connection lives on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ocpp.exceptions import OCPPError

from chargepoints.errors import CallFailed, CallTimeout, ChargePointError, ConnectionEnded, NotConnected
from chargepoints.lenient import repair
from chargepoints.validation import schema, validator

if TYPE_CHECKING:
    from chargepoints.central import CentralSystem
    from chargepoints.ports import Connection

log = logging.getLogger("chargepoints.session")

CALL, CALLRESULT, CALLERROR = 2, 3, 4
Handler = Callable[[Any, dict[str, Any]], Awaitable[dict[str, Any]]]


def handles(action: str) -> Callable[[Handler], Handler]:
    """Mark a session method as the handler of a charger-initiated action."""

    def mark(function: Handler) -> Handler:
        function._ocpp_action = action  # type: ignore[attr-defined]
        return function

    return mark


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _dumps(frame: list[Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


class OcppSession:
    version: ClassVar[str]
    protocol_actions: ClassVar[frozenset[str]]  # every action of the protocol version
    handlers: ClassVar[dict[str, Handler]]
    # CallError codes for frames that cannot be parsed, per version
    bad_json_code: ClassVar[str] = "FormationViolation"
    bad_frame_code: ClassVar[str] = "ProtocolError"
    bad_type_code: ClassVar[str] = "PropertyConstraintViolation"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.collect_handlers()

    @classmethod
    def collect_handlers(cls) -> None:
        """(Re)build the action -> handler table from methods marked with @handles."""
        cls.handlers = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                action = getattr(value, "_ocpp_action", None)
                if action is not None:
                    cls.handlers[action] = value

    def __init__(
        self, charge_point_id: str, connection: Connection, central: CentralSystem, *, lenient: bool = False
    ) -> None:
        self.id = charge_point_id
        self._connection = connection
        self._central = central
        self.lenient = lenient
        self.response_timeout_s = central.response_timeout_s
        self._call_lock = asyncio.Lock()
        self._pending: dict[str, asyncio.Future[list[Any]]] = {}
        self._after_reply: list[Callable[[], Awaitable[None]]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._group: asyncio.TaskGroup | None = None
        self._tokens = float(central.frame_burst)  # the per-connection frame budget (token bucket)
        self._refilled = time.monotonic()
        self.throttled = 0
        self.stray_answers = 0

    @property
    def ocpp_version(self) -> str:
        return self.version

    # -- receive loop ---------------------------------------------------------------
    async def run(self) -> None:
        """Serve frames until the connection ends; then stop this session's background work."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            try:
                while True:
                    raw = await self._connection.recv()
                    await self._throttle()
                    await self.route(raw)
            except ConnectionEnded:
                pass
            finally:
                for task in self._background:
                    task.cancel()
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(NotConnected(f"{self.id} disconnected before answering"))

    async def _throttle(self) -> None:
        """Hold a charger to `max_frames_per_s` (bursts up to `frame_burst`) by reading its next frame later.

        Nothing is refused: an OCPP-J charger waits for each answer, so a slower answer slows it down,
        and a flooding one fills its own socket buffers (the reader pauses) instead of our CPU.
        """
        rate = self._central.max_frames_per_s
        if rate <= 0:
            return
        now = time.monotonic()
        self._tokens = min(float(self._central.frame_burst), self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return
        if self.throttled == 0:
            log.warning("%s: more than %g frames/s; its frames are read more slowly", self.id, rate)
        self.throttled += 1
        self._central.throttled_frames += 1
        wait_s = (1.0 - self._tokens) / rate
        await asyncio.sleep(wait_s)
        self._tokens = 0.0
        self._refilled = now + wait_s

    async def close(self) -> None:
        await self._connection.close()

    async def _send(self, frame: list[Any]) -> None:
        await self._connection.send(_dumps(frame))

    async def _send_error(self, unique_id: str, code: str, description: str, cause: str | None = None) -> None:
        await self._send([CALLERROR, unique_id, code, description, {"cause": cause} if cause else {}])

    async def route(self, raw: str) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            await self._send_error("-1", self.bad_json_code, "the message is not valid JSON")
            return
        if not isinstance(frame, list) or len(frame) < 3 or not isinstance(frame[1], str):
            unique_id = frame[1] if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str) else "-1"
            await self._send_error(unique_id, self.bad_frame_code, "not an OCPP-J message array")
            return
        message_type, unique_id = frame[0], frame[1]
        if message_type == CALL:
            await self._on_call(frame)
        elif message_type in (CALLRESULT, CALLERROR):
            future = self._pending.get(unique_id)
            if future is None or future.done():
                self.stray_answers += 1  # logged once per connection: a charger must not flood the log
                level = logging.WARNING if self.stray_answers == 1 else logging.DEBUG
                log.log(level, "%s: answer to an unknown call %r ignored", self.id, unique_id[:64])
            else:
                future.set_result(frame)
        else:
            await self._send_error(unique_id, self.bad_type_code, f"message type {message_type!r} is not valid")

    async def _on_call(self, frame: list[Any]) -> None:
        if len(frame) != 4 or not isinstance(frame[2], str):
            await self._send_error(frame[1], self.bad_frame_code, "a Call is [2, uniqueId, action, payload]")
            return
        _, unique_id, action, payload = frame
        self._central.touch(self.id)
        handler = self.handlers.get(action)
        if handler is None:
            # OCPP-J: an action we do not know is NotImplemented; one the
            # protocol has but we do not handle is NotSupported.
            if action in self.protocol_actions:
                await self._send_error(unique_id, "NotSupported", f"{action} is not supported")
            else:
                await self._send_error(unique_id, "NotImplemented", f"unknown action {action!r}")
            return
        if self.lenient and isinstance(payload, dict):
            payload, fixes = repair(schema(self.version, action), payload)
            if fixes:
                self._central.count_quirk(self.id, action, fixes)
        self._after_reply.clear()
        started = time.perf_counter()
        try:
            validator(self.version, action)(payload)
            result = await handler(self, payload)
            validator(self.version, action, response=True)(result)
        except OCPPError as error:
            self._after_reply.clear()
            cause = error.details.get("cause") if isinstance(error.details, dict) else None
            await self._send_error(unique_id, error.code, error.description, str(cause) if cause else None)
            self._central.observe("in", action, error.code, time.perf_counter() - started)
            return
        except ChargePointError:
            raise
        except Exception:
            self._after_reply.clear()
            log.exception("%s: handling %s failed", self.id, action)
            await self._send_error(unique_id, "InternalError", f"{action} could not be processed")
            self._central.observe("in", action, "InternalError", time.perf_counter() - started)
            return
        await self._send([CALLRESULT, unique_id, result])
        self._central.observe("in", action, "ok", time.perf_counter() - started)
        for work in self._after_reply:
            self._spawn(work)
        self._after_reply.clear()

    # -- handlers both versions share --------------------------------------------------------
    async def boot(self, vendor: str, model: str, serial: str | None, firmware: str | None) -> dict[str, Any]:
        """BootNotification: register, answer, and configure the charger once the answer is out."""
        status, interval = await self._central.boot(
            self.id, self.version, vendor=vendor, model=model, serial_number=serial, firmware_version=firmware
        )
        if status == "Accepted":
            self.after_reply(lambda: self._central.configure_after_boot(self.id))
        return {"currentTime": _iso(self._central.now()), "interval": interval, "status": status}

    @handles("Heartbeat")
    async def on_heartbeat(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"currentTime": _iso(self._central.now())}

    # -- background work after a reply ------------------------------------------------------
    def after_reply(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` once the reply to the current call has been sent."""
        self._after_reply.append(work)

    def _spawn(self, work: Callable[[], Awaitable[None]]) -> None:
        async def guarded() -> None:
            try:
                await work()
            except NotConnected as exc:
                log.info("%s: background call dropped: %s", self.id, exc)
            except (ChargePointError, OCPPError) as exc:
                log.warning("%s: background call failed: %s", self.id, exc)

        if self._group is None:
            return
        task = self._group.create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- CSMS-initiated calls ---------------------------------------------------------------
    async def call_raw(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send `action` with an OCPP JSON payload; return the charger's payload.

        One call is outstanding at a time: others wait their turn. Raises an
        OCPPError for a payload that breaks the schema, CallFailed when the
        charger answers with a CallError (or an answer that breaks the schema)
        and CallTimeout when it stays silent.
        """
        validator(self.version, action)(payload)
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await self._call(action, payload)
        except CallFailed as exc:
            outcome = exc.code
            raise
        except CallTimeout:
            outcome = "timeout"
            raise
        finally:
            self._central.observe("out", action, outcome, time.perf_counter() - started)

    async def _call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        async with self._call_lock:
            unique_id = str(uuid.uuid4())
            future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
            self._pending[unique_id] = future
            try:
                await self._send([CALL, unique_id, action, payload])
                answer = await asyncio.wait_for(future, self.response_timeout_s)
            except TimeoutError as exc:
                raise CallTimeout(f"{self.id} did not answer {action} in {self.response_timeout_s:g}s") from exc
            except ConnectionEnded as exc:
                raise NotConnected(f"{self.id} disconnected") from exc
            finally:
                self._pending.pop(unique_id, None)
        if answer[0] == CALLERROR:
            code = answer[2] if len(answer) > 2 else "GenericError"
            description = answer[3] if len(answer) > 3 else ""
            raise CallFailed(str(code), str(description))
        result = answer[2] if len(answer) > 2 and isinstance(answer[2], dict) else {}
        try:
            validator(self.version, action, response=True)(result)
        except OCPPError as error:
            raise CallFailed(error.code, f"invalid {action} answer: {error.details}") from None
        return result
