"""OCPP 1.6J session: one object per open connection.

Handlers only translate a message into a call on the CentralSystem (which owns
state, storage and events) and the answer back into OCPP. No socket code here:
the connection is a port with recv() and send(). Work that must call the
charger back (installing a profile after boot, sending a signed certificate)
runs in the session's own TaskGroup once the reply has been sent, so the
receive loop never waits on the charger.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import ocpp.messages
from ocpp.charge_point import snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, MessageType, get_validator, unpack, validate_payload
from ocpp.routing import on
from ocpp.v16 import ChargePoint as _LibChargePoint
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from chargepoints.errors import CallFailed, CallTimeout, ChargePointError, ConnectionEnded
from chargepoints.lenient import repair
from chargepoints.meter import normalise

if TYPE_CHECKING:
    from chargepoints.central import CentralSystem
    from chargepoints.ports import Connection

# Schema validation is CPU-bound and fast; the library's default hands every
# frame to a thread pool, which costs more than the validation itself.
ocpp.messages.ASYNC_VALIDATION = False

log = logging.getLogger(__name__)

_ACTIONS = frozenset(action.value for action in Action)
# The ocpp library uses OCPP 2.0.1's spelling of two error codes; OCPP 1.6J
# (and its errata) keeps the original ones.
_CODES_16 = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}


class _QuietLibLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The ocpp library logs every frame at INFO and a charger's stray answer
    at ERROR. Frames go to DEBUG and a charger's mistake to WARNING; a handler
    of ours that fails still logs its traceback at ERROR (that is our bug)."""

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.logger.debug(msg, *args)

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.logger.warning(msg, *args)


def parse_ts(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return default
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Session16(_LibChargePoint):
    """The central system's side of one OCPP 1.6J connection."""

    ocpp_version = "1.6"

    def __init__(
        self, charge_point_id: str, connection: Connection, central: CentralSystem, *, lenient: bool = False
    ) -> None:
        super().__init__(
            charge_point_id,
            connection,
            response_timeout=central.response_timeout_s,
            logger=_QuietLibLogger(log, {}),
        )
        self._central = central
        self.lenient = lenient
        self._after_reply: list[Callable[[], Awaitable[None]]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._group: asyncio.TaskGroup | None = None

    # -- receive loop -------------------------------------------------------
    async def run(self) -> None:
        """Serve frames until the connection ends; then stop this session's background work."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            try:
                while True:
                    frame = await self._connection.recv()
                    await self.route_message(frame)
            except ConnectionEnded:
                pass
            finally:
                for task in self._background:
                    task.cancel()

    async def close(self) -> None:
        await self._connection.close()

    def after_reply(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` once the reply to the current call has been sent."""
        self._after_reply.append(work)

    def _spawn(self, work: Callable[[], Awaitable[None]]) -> None:
        async def guarded() -> None:
            try:
                await work()
            except (ChargePointError, OCPPError, TimeoutError) as exc:
                log.warning("%s: background call failed: %s", self.id, exc)

        if self._group is None:
            return
        task = self._group.create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def route_message(self, raw_msg: str) -> None:
        try:
            msg = unpack(raw_msg)
        except OCPPError as error:
            # OCPP-J 4.2.3: answer what cannot be parsed with a CallError; use
            # the message's unique id when one can be read, else "-1".
            await self._send(_error_frame(raw_msg, error))
            return
        if msg.message_type_id != MessageType.Call:
            self._response_queue.put_nowait(msg)
            return
        self._central.touch(self.id)
        if msg.action not in self.route_map:
            # OCPP-J 4.2.3: an action we do not know is NotImplemented; one the
            # protocol has but we do not handle is NotSupported.
            known = msg.action in _ACTIONS
            code = "NotSupported" if known else "NotImplemented"
            text = f"{msg.action} is not supported" if known else f"unknown action {msg.action!r}"
            await self._send(CallError(msg.unique_id, code, text, {}).to_json())
            return
        if self.lenient and isinstance(msg.payload, dict):
            schema = get_validator(MessageType.Call, msg.action, self._ocpp_version).schema
            msg.payload, fixes = repair(schema, msg.payload)
            if fixes:
                self._central.count_quirk(self.id, msg.action, fixes)
        self._after_reply.clear()
        try:
            await self._handle_call(msg)
        except OCPPError as error:
            self._after_reply.clear()
            await self._send(_call_error(msg.unique_id, error))
            return
        for work in self._after_reply:
            self._spawn(work)
        self._after_reply.clear()

    # -- CSMS-initiated calls -------------------------------------------------
    async def call_raw(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send `action` with an OCPP JSON payload; return the charger's payload.

        One call is outstanding at a time (OCPP-J): others wait their turn.
        Raises OCPPError subclasses for an invalid payload, CallFailed for a
        CallError answer and CallTimeout when the charger stays silent.
        """
        message = Call(unique_id=str(self._unique_id_generator()), action=action, payload=payload)
        await validate_payload(message, self._ocpp_version)
        async with self._call_lock:
            await self._send(message.to_json())
            try:
                response = await self._get_specific_response(message.unique_id, self._response_timeout)
            except TimeoutError as exc:
                raise CallTimeout(f"{self.id} did not answer {action} in {self._response_timeout}s") from exc
        if response.message_type_id == MessageType.CallError:
            raise CallFailed(response.error_code, response.error_description)
        return dict(response.payload)

    # -- Core profile ------------------------------------------------------------
    @on(Action.boot_notification)
    async def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **extra: Any
    ) -> Any:
        status, interval = await self._central.boot(
            self.id,
            self.ocpp_version,
            vendor=charge_point_vendor,
            model=charge_point_model,
            serial_number=extra.get("charge_point_serial_number"),
            firmware_version=extra.get("firmware_version"),
        )
        if status == "Accepted":
            self.after_reply(lambda: self._central.configure_after_boot(self.id))
        return call_result.BootNotification(
            current_time=iso(self._central.now()), interval=interval, status=status
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> Any:
        return call_result.Heartbeat(current_time=iso(self._central.now()))

    @on(Action.status_notification)
    async def on_status_notification(
        self, connector_id: int, error_code: str, status: str, **extra: Any
    ) -> Any:
        ts = parse_ts(extra.get("timestamp"), self._central.now())
        await self._central.connector_status(self.id, connector_id, status, error_code, ts)
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str) -> Any:
        return call_result.Authorize(id_tag_info=await self._central.id_tag_info(id_tag))

    @on(Action.start_transaction)
    async def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **extra: Any
    ) -> Any:
        ts = parse_ts(timestamp, self._central.now())
        transaction_id, info = await self._central.start_transaction(
            self.id, connector_id, id_tag, float(meter_start), ts
        )
        return call_result.StartTransaction(transaction_id=transaction_id, id_tag_info=info)

    @on(Action.stop_transaction)
    async def on_stop_transaction(
        self, meter_stop: int, timestamp: str, transaction_id: int, **extra: Any
    ) -> Any:
        ts = parse_ts(timestamp, self._central.now())
        for value in extra.get("transaction_data") or []:
            reading = normalise(value.get("sampled_value", []))
            sample_ts = parse_ts(value.get("timestamp"), ts)
            await self._central.meter_reading(self.id, 0, transaction_id, sample_ts, reading, replay=True)
        await self._central.stop_transaction(
            self.id, transaction_id, float(meter_stop), ts, extra.get("reason") or "Local"
        )
        id_tag = extra.get("id_tag")
        if id_tag is None:
            return call_result.StopTransaction()
        return call_result.StopTransaction(id_tag_info=await self._central.id_tag_info(id_tag))

    @on(Action.meter_values)
    async def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **extra: Any
    ) -> Any:
        transaction_id = extra.get("transaction_id")
        for value in meter_value:
            ts = parse_ts(value.get("timestamp"), self._central.now())
            reading = normalise(value.get("sampled_value", []))
            await self._central.meter_reading(self.id, connector_id, transaction_id, ts, reading)
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **extra: Any) -> Any:
        await self._central.record(self.id, "DataTransfer", {"vendorId": vendor_id, **_camel(extra)})
        return call_result.DataTransfer(status="UnknownVendorId")

    # -- Firmware management, diagnostics, security extension -----------------------
    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status(self, status: str) -> Any:
        await self._central.record(self.id, "DiagnosticsStatusNotification", {"status": status})
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status(self, status: str) -> Any:
        await self._central.record(self.id, "FirmwareStatusNotification", {"status": status})
        return call_result.FirmwareStatusNotification()

    @on(Action.security_event_notification)
    async def on_security_event(self, type: str, timestamp: str, **extra: Any) -> Any:  # noqa: A002
        await self._central.record(
            self.id, "SecurityEventNotification", {"type": type, "timestamp": timestamp, **_camel(extra)}
        )
        return call_result.SecurityEventNotification()

    @on(Action.log_status_notification)
    async def on_log_status(self, status: str, **extra: Any) -> Any:
        await self._central.record(self.id, "LogStatusNotification", {"status": status, **_camel(extra)})
        return call_result.LogStatusNotification()

    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware_status(self, status: str, **extra: Any) -> Any:
        await self._central.record(
            self.id, "SignedFirmwareStatusNotification", {"status": status, **_camel(extra)}
        )
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, csr: str) -> Any:
        if not self._central.can_sign:
            return call_result.SignCertificate(status="Rejected")
        self.after_reply(lambda: self._central.deliver_certificate(self.id, csr))
        return call_result.SignCertificate(status="Accepted")


def _camel(data: dict[str, Any]) -> dict[str, Any]:
    return dict(snake_to_camel_case(data))


def _call_error(unique_id: str, error: OCPPError) -> str:
    cause = error.details.get("cause") if isinstance(error.details, dict) else None
    code = _CODES_16.get(error.code, error.code)
    return CallError(unique_id, code, error.description, {"cause": str(cause)} if cause else {}).to_json()


def _error_frame(raw: str, error: OCPPError) -> str:
    unique_id = "-1"
    try:
        decoded = json.loads(raw)
        if isinstance(decoded, list) and len(decoded) > 1 and isinstance(decoded[1], str):
            unique_id = decoded[1]
    except (ValueError, TypeError):
        pass
    return _call_error(unique_id, error)
