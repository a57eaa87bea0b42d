"""One OCPP-J connection, protocol-version independent: framing, validation, dispatch, calls.

Subclasses (v16.Session16, v201.Session201) register handlers with `@handles`;
a handler takes the Call's payload (camelCase, as on the wire) and returns the
CallResult payload. Rules of this module:
- the receive loop never waits on the charger: work that calls the charger back
  is queued with `after_reply()` and runs in the session's TaskGroup once the
  reply has gone out;
- one CSMS-initiated call is outstanding at a time (OCPP-J); others queue;
- a frame we cannot use gets the CallError the specification names, and the
  connection lives on: JSON that does not parse (nested too deeply, or holding
  NaN/Infinity, which JSON does not have but Python's parser takes), a message
  id that is not a string of at most 36 characters, a payload that breaks the
  schema (integers beyond 32 bits included), a connector or EVSE id the charger
  does not have.
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

from ocpp.exceptions import (
    FormationViolationError,
    FormatViolationError,
    InternalError,
    OCPPError,
    PropertyConstraintViolationError,
)

from chargepoints.credentials import accepted_password
from chargepoints.errors import CallFailed, CallTimeout, ChargePointError, ConnectionEnded, NotConnected
from chargepoints.framing import (
    MAX_DEPTH,
    MAX_MESSAGE_ID,
    UNKNOWN_MESSAGE_ID,
    brief,
    decode,
    deeper_than,
    dumps,
    is_unicode,
    lone_surrogate,
    readable_call_id,
)
from chargepoints.lenient import repair
from chargepoints.profiles import Unit
from chargepoints.registration import admits, solicited
from chargepoints.validation import device_ids, schema, validator

if TYPE_CHECKING:
    from chargepoints.ports import Connection, SessionHost

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
        self, charge_point_id: str, connection: Connection, central: SessionHost, *, lenient: bool = False
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
        self.foreign_transactions = 0  # messages naming a transaction that is not this charger's
        self.foreign_recorded: set[tuple[str, object]] = set()  # (action, transaction id) kept as events
        self._outcome: str | None = None  # the current call's outcome when it is not plain "ok"
        # what our calls asked a charger that is not Accepted to send (TriggerMessage, GetBaseReport, GetReport)
        self.asked_for: set[str] = set()

    @property
    def ocpp_version(self) -> str:
        return self.version

    # -- receive loop ---------------------------------------------------------------
    async def run(self) -> None:
        """Serve frames until the connection ends; then stop this session's background work."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            self._spawn(self.connected)
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
        await self._connection.send(dumps(frame))  # a lone surrogate escaped as \\uXXXX, never unencodable

    async def _send_error(self, unique_id: str, code: str, description: str, cause: str | None = None) -> None:
        await self._send([CALLERROR, unique_id, code, description, {"cause": cause} if cause else {}])

    async def route(self, raw: str) -> None:
        try:
            frame = decode(raw)
        except ValueError:
            await self._refuse(raw, None, "the message is not valid JSON")
            return
        except RecursionError:
            await self._refuse(raw, None, "the message is nested too deeply")
            return
        if "\\u" in raw and ("\\ud" in raw or "\\uD" in raw) and lone_surrogate(frame):
            # JSON escapes may spell half a UTF-16 pair; such a string is no text to store, log or answer with.
            await self._refuse(raw, frame, "a string holds a lone surrogate")
            return
        # Counting brackets is cheap; only a frame with enough of them can nest too deeply.
        if raw.count("[") + raw.count("{") > MAX_DEPTH and deeper_than(frame, MAX_DEPTH):
            await self._refuse(raw, frame, f"the message is nested deeper than {MAX_DEPTH} levels")
            return
        if not isinstance(frame, list) or len(frame) < 3 or not isinstance(frame[1], str):
            readable_id = isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str)
            unique_id = frame[1] if readable_id and len(frame[1]) <= MAX_MESSAGE_ID else UNKNOWN_MESSAGE_ID
            await self._send_error(unique_id, self.bad_frame_code, "not an OCPP-J message array")
            return
        message_type, unique_id = frame[0], frame[1]
        if len(unique_id) > MAX_MESSAGE_ID:
            # Not an id we may use: none of our calls has one, and a CallError must not echo it.
            if message_type in (CALLRESULT, CALLERROR):
                self._stray(unique_id)
            else:
                await self._send_error(
                    UNKNOWN_MESSAGE_ID, self.bad_frame_code, f"a message id has at most {MAX_MESSAGE_ID} characters"
                )
            return
        if message_type == CALL:
            await self._on_call(frame)
        elif message_type in (CALLRESULT, CALLERROR):
            future = self._pending.get(unique_id)
            if future is None or future.done():
                self._stray(unique_id)
            else:
                future.set_result(frame)
        else:
            await self._send_error(unique_id, self.bad_type_code, f"message type {brief(message_type)} is not valid")

    async def _refuse(self, raw: str, frame: Any, description: str) -> None:
        """A frame refused as a whole (the version's bad-JSON code). A Call gets the CallError under its own id
        when that can be read, so that the charger can match it; an answer to one of our calls fails that call
        (an answer is never answered); anything else gets the CallError under "-1"."""
        if frame is None:
            try:
                frame = json.loads(raw)  # Python's own JSON takes NaN and Infinity: enough to read the id
            except (ValueError, RecursionError):
                await self._send_error(readable_call_id(raw), self.bad_json_code, description)
                return
        if not (isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str)):
            await self._send_error(UNKNOWN_MESSAGE_ID, self.bad_json_code, description)
            return
        unique_id = frame[1]
        if frame[0] in (CALLRESULT, CALLERROR):
            future = self._pending.get(unique_id)
            if future is None or future.done():
                self._stray(unique_id)
            else:
                future.set_result([CALLERROR, unique_id, self.bad_json_code, description, {}])
            return
        usable = len(unique_id) <= MAX_MESSAGE_ID and is_unicode(unique_id)
        await self._send_error(unique_id if usable else UNKNOWN_MESSAGE_ID, self.bad_json_code, description)

    def _stray(self, unique_id: str) -> None:
        self.stray_answers += 1  # logged once per connection: a charger must not flood the log
        level = logging.WARNING if self.stray_answers == 1 else logging.DEBUG
        log.log(level, "%s: answer to an unknown call %s ignored", self.id, brief(unique_id))

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
                await self._send_error(unique_id, "NotImplemented", f"unknown action {brief(action)}")
            return
        if not admits(self._central.registration_of(self.id), action, self.asked_for):
            await self._send_error(unique_id, "SecurityError", f"{action} is not accepted before the charger is")
            self._central.observe("in", action, "SecurityError", 0.0)
            return
        self._after_reply.clear()
        self._outcome = None
        started = time.perf_counter()
        try:
            if self.lenient and isinstance(payload, dict):
                payload, fixes = repair(schema(self.version, action), payload)
                if fixes:
                    self._central.count_quirk(self.id, action, fixes)
            validator(self.version, action)(payload)
            self._check_device_ids(action, payload)
            result = await handler(self, payload)
            try:
                validator(self.version, action, response=True)(result)
            except OCPPError as error:  # our answer, not the charger's message, is wrong
                log.error("%s: the %s answer breaks the response schema: %s", self.id, action, error.details)
                raise InternalError(description=f"{action} could not be answered") from None
        except RecursionError:
            # JSON the parser took but nested too deeply for the validator or a handler to walk.
            self._after_reply.clear()
            await self._send_error(unique_id, self.bad_json_code, f"the {action} payload is nested too deeply")
            self._central.observe("in", action, self.bad_json_code, time.perf_counter() - started)
            return
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
        self._central.observe("in", action, self._outcome or "ok", time.perf_counter() - started)
        for work in self._after_reply:
            self._spawn(work)
        self._after_reply.clear()

    def _check_device_ids(self, action: str, payload: Any) -> None:
        """Connector (1.6) and EVSE (2.0.1) ids: none below the least the message allows, none the charger
        does not have (when the central system knows how many it has; 32 bits are the schema's bound)."""
        found = device_ids(self.version, action, payload)
        if not found:
            return
        count = self._central.connector_count(self.id)
        for name, value, least in found:
            if value < least or (count is not None and value > count):
                ids = f"{least}..{count}" if count is not None else f"{least} and up"
                raise PropertyConstraintViolationError(details={"cause": f"{name} {value} is not in {ids}"})

    @property
    def outcome(self) -> str | None:
        """What note_outcome() said of the call being handled, if anything."""
        return self._outcome

    def note_outcome(self, outcome: str) -> None:
        """Mark the call being handled as answered but not taken as sent (for metrics): e.g. ForeignTransaction."""
        self._outcome = outcome

    # -- handlers both versions share --------------------------------------------------------
    async def boot(self, vendor: str, model: str, serial: str | None, firmware: str | None) -> dict[str, Any]:
        """BootNotification: register, answer, and configure the charger once the answer is out."""
        status, interval = await self._central.boot(
            self.id, self.version, vendor=vendor, model=model, serial_number=serial, firmware_version=firmware
        )
        self.asked_for.clear()  # a new registration: what we asked of the last one is no longer asked
        if status == "Accepted":
            self.after_reply(lambda: self._central.configure_after_boot(self.id))
        return {"currentTime": _iso(self._central.now()), "interval": interval, "status": status}

    @handles("Heartbeat")
    async def on_heartbeat(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"currentTime": _iso(self._central.now())}

    async def connected(self) -> None:
        """Run in the background once the connection is served (the version's own; nothing by default)."""

    # -- background work after a reply ------------------------------------------------------
    def after_reply(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` once the reply to the current call has been sent."""
        self._after_reply.append(work)

    def spawn(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` in this connection's task group (failures logged, never ending the connection)."""
        self._spawn(work)

    def _spawn(self, work: Callable[[], Awaitable[None]]) -> None:
        async def guarded() -> None:
            try:
                await work()
            except NotConnected as exc:
                log.info("%s: background call dropped: %s", self.id, exc)
            except (ChargePointError, OCPPError) as exc:
                log.warning("%s: background call failed: %s", self.id, exc)
            except Exception:  # one failed piece of background work must not end the connection
                log.exception("%s: background work failed", self.id)

        if self._group is None:
            return
        task = self._group.create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- CSMS-initiated calls ---------------------------------------------------------------
    # -- what each version does differently: overridden in v16 and v201 ---------------------------
    async def call_learning(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """`call_raw`, and what the answer teaches about the charger kept (the version's `learn`)."""
        answer = await self.call_raw(action, payload)
        asked = solicited(action, payload, answer)
        if asked is not None:
            self.asked_for.add(asked)
        password = accepted_password(action, payload, answer)
        if password is not None:
            await self._central.password_accepted(self.id, password)
        await self.learn(action, payload, answer)
        return answer

    async def learn(self, action: str, payload: dict[str, Any], answer: dict[str, Any]) -> None:
        """Keep what an answer to one of our calls says about the charger."""

    async def limit_profile(
        self, connector_id: int, limit: float, transaction_id: int | None, phases: int | None, unit: Unit
    ) -> dict[str, Any]:
        """SetChargingProfile capping a connector (or EVSE): on its transaction, else its default."""
        raise NotImplementedError

    async def send_limit(
        self, connector_id: int, limit: float, transaction_id: int | None, phases: int | None, unit: Unit
    ) -> str:
        """Cap a connector (or EVSE) with SetChargingProfile of `limit_profile`; the charger's status answer.
        (2.1 follows a transaction's limit with dynamic schedules when configured: chargepoints.v21.)"""
        payload = await self.limit_profile(connector_id, limit, transaction_id, phases, unit)
        answer = await self.call_learning("SetChargingProfile", payload)
        return str(answer.get("status", "Unknown"))

    def safe_default_profile(self, limit: float, unit: Unit) -> dict[str, Any]:
        """SetChargingProfile of the safe default limit for every connector."""
        raise NotImplementedError

    async def rate_units(self) -> str | None:
        """Which units the charger's charging profiles may use, as it says (e.g. "Current,Power")."""
        raise NotImplementedError

    async def call_raw(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send `action` with an OCPP JSON payload; return the charger's payload.

        One call is outstanding at a time: others wait their turn. Raises an
        OCPPError for a payload that breaks the schema, CallFailed when the
        charger answers with a CallError (or an answer that breaks the schema)
        and CallTimeout when it stays silent.
        """
        try:
            validator(self.version, action)(payload)
        except RecursionError:
            bad_json = FormationViolationError if self.version == "1.6" else FormatViolationError
            raise bad_json(details={"cause": "the payload is nested too deeply"}) from None
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
        except RecursionError:
            raise CallFailed(self.bad_json_code, f"the {action} answer is nested too deeply") from None
        return result
