"""OCPI commands carried out: START_SESSION, STOP_SESSION and UNLOCK_CONNECTOR as one OCPP call each through
the cluster (the charger may be connected to another instance), RESERVE_NOW through the platform's
reservations (stored, ReserveNow). The partner gets its CommandResponse at once and the CommandResult,
queued like every push, once the charger has answered."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

from chargepoints.errors import CallTimeout, ChargePointError
from chargepoints.reservations import ACTIVE, FAILED, REFUSED, REQUESTED, reserve_now
from roaming.commands import Command, command_response, command_result, ocpp_call, parse_command, result_body
from roaming.envelope import UNKNOWN_LOCATION, OcpiError

if TYPE_CHECKING:
    from gateway.ocpi.service import Ocpi

COMMAND_MEMORY_S = 24 * 3600.0  # a START_SESSION's token is remembered this long (the session's auth_method)


class Commanding:
    def __init__(self, ocpi: Ocpi) -> None:
        self.ocpi = ocpi
        self._started: dict[str, float] = {}  # token uid -> when START_SESSION was accepted (monotonic)

    def started_by_command(self, uid: str, *, keep: bool = True) -> bool:
        at = self._started.get(uid) if keep else self._started.pop(uid, None)
        return at is not None and time.monotonic() - at < COMMAND_MEMORY_S

    async def receive(self, partner: dict[str, Any], kind: str, data: Any) -> dict[str, Any]:
        """`POST commands/{kind}`: checked, answered with a CommandResponse; the charger called later."""
        if kind == "CANCEL_RESERVATION":
            return command_response("NOT_SUPPORTED", 0, "CANCEL_RESERVATION is not supported by this CPO")
        command = parse_command(kind, data)
        platform = self.ocpi.platform
        timeout = self.ocpi.settings.command_timeout_s
        if command.kind == "STOP_SESSION":
            active = await platform.store.list_transactions(active=True)
            record = next((r for r in active if str(r.api_id) == command.session_id), None)
            found = None if record is None else await self.ocpi.objects.partner_token(record.id_tag)
            if record is None or found is None or found[0] != partner["id"]:
                return command_response("UNKNOWN_SESSION", timeout, "no such session of this partner's")
            charge_point_id, transaction_id = record.charge_point_id, record.api_id
        else:
            if command.location_id not in platform.world.sites:
                raise OcpiError(UNKNOWN_LOCATION, f"no location {command.location_id!r}", http_status=404)
            charge_point_id, transaction_id = str(command.evse_uid), None
            central = platform.central
            if not central.knows(charge_point_id) or central.state(charge_point_id).site_id != command.location_id:
                return command_response("REJECTED", timeout, f"no EVSE {charge_point_id!r} at this location")
            if not central.state(charge_point_id).connected:
                return command_response("REJECTED", timeout, "the EVSE is offline")
        if command.token is not None:
            await self.ocpi.store_token(partner["id"], command.token)
        if command.kind == "START_SESSION" and command.token is not None:
            self._started[command.token.uid] = time.monotonic()

        async def carry_out() -> None:
            result, message = await self._call(command, charge_point_id, transaction_id)
            await self.ocpi.pushes.enqueue(partner["id"], "POST", None, command.response_url,
                                           result_body(result, message))  # fmt: skip

        self.ocpi.later(carry_out)
        return command_response("ACCEPTED", timeout)

    async def _call(self, command: Command, charge_point_id: str, transaction_id: int | str | None
                    ) -> tuple[str, str | None]:  # fmt: skip
        platform = self.ocpi.platform
        version = platform.central.state(charge_point_id).ocpp_version or "1.6"
        try:
            if command.kind == "RESERVE_NOW":
                return await self._reserve(command, charge_point_id, version)
            action, payload = ocpp_call(command, version, transaction_id=transaction_id,
                                        remote_start_id=secrets.randbelow(2**31 - 1) + 1)  # fmt: skip
            answer = await platform.cluster.call(charge_point_id, action, payload)
        except CallTimeout:
            return "TIMEOUT", "the charger did not answer in time"
        except ChargePointError as exc:
            return "FAILED", str(exc)
        return command_result(action, answer), None

    async def _reserve(self, command: Command, charge_point_id: str, version: str) -> tuple[str, str | None]:
        platform = self.ocpi.platform
        assert command.token is not None
        assert command.expiry_date is not None
        reservations = platform.store.reservations
        reservation = await reservations.create(charge_point_id, command.connector, command.token.uid,
                                                command.expiry_date, platform.now(), status=REQUESTED)  # fmt: skip
        try:
            answer = await platform.cluster.call(charge_point_id, "ReserveNow", reserve_now(version, reservation))
        except ChargePointError:
            await reservations.settle(reservation.id, FAILED)
            raise
        status = str(answer.get("status"))
        await reservations.settle(reservation.id, ACTIVE if status == "Accepted" else REFUSED, status)
        return command_result("ReserveNow", answer), None
