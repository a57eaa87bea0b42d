"""The simulated 1.6 charge point's protocol side: the `ocpp` library's ChargePoint, answering the central
system's calls on behalf of the simulator (simulators.chargepoint)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v16 import ChargePoint as _LibChargePoint
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from simulators.ev import EVArrival, Profile

if TYPE_CHECKING:
    from simulators.chargepoint import SimulatedChargePoint

log = logging.getLogger("simulators.chargepoint")


class _QuietLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.logger.debug(msg, *args)


_QUIET = _QuietLogger(log, {})


class Client16(_LibChargePoint):
    """The protocol side: answers the central system's calls on behalf of the simulator."""

    def __init__(self, sim: SimulatedChargePoint, connection: Any) -> None:
        super().__init__(sim.id, connection, response_timeout=30, logger=_QUIET)
        self.sim = sim

    async def route_message(self, raw_msg: str | bytes) -> None:
        # A slow charger: calls of the central system wait before they are answered.
        delay = self.sim.faults.answer_delay_s
        if delay and raw_msg[:2] in ("[2", b"[2"):
            await asyncio.sleep(delay)
        await super().route_message(raw_msg)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        if self.sim.reject_profiles:
            return call_result.SetChargingProfile(status="Rejected")
        profile = Profile.from_16(connector_id, snake_to_camel_case(cs_charging_profiles))
        self.sim.profiles.install(profile)
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **kw: Any) -> Any:
        removed = self.sim.profiles.clear(kw.get("id"), kw.get("connector_id"), kw.get("charging_profile_purpose"))
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None) -> Any:
        known = self.sim.configuration
        wanted = key or list(known)
        return call_result.GetConfiguration(
            configuration_key=[{"key": k, "readonly": False, "value": known[k]} for k in wanted if k in known],
            unknown_key=[k for k in wanted if k not in known] or None,
        )

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str) -> Any:
        self.sim.configuration[key] = value
        return call_result.ChangeConfiguration(status="Accepted")

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag: str, connector_id: int | None = None, **kw: Any) -> Any:
        connector = self.sim.connectors.get(connector_id or 1)
        if connector is None or connector.transaction_id is not None or connector.ev is not None:
            return call_result.RemoteStartTransaction(status="Rejected")
        arrival = EVArrival(arrive_after_s=self.sim.clock.elapsed_s())
        self.sim.remote_starts.put_nowait((connector.id, id_tag, arrival))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id: int) -> Any:
        for connector in self.sim.connectors.values():
            if connector.transaction_id == transaction_id and connector.ev is not None:
                connector.ev.departs_at_s = self.sim.clock.elapsed_s()
                return call_result.RemoteStopTransaction(status="Accepted")
        return call_result.RemoteStopTransaction(status="Rejected")

    @on(Action.reset)
    def on_reset(self, type: str) -> Any:  # noqa: A002 - OCPP's field name
        self.sim.resets.append(type)
        return call_result.Reset(status="Accepted")

    @on(Action.unlock_connector)
    def on_unlock(self, connector_id: int) -> Any:
        return call_result.UnlockConnector(status="Unlocked" if connector_id in self.sim.connectors else "NotSupported")

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str) -> Any:  # noqa: A002
        targets = list(self.sim.connectors.values()) if connector_id == 0 else [self.sim.connectors.get(connector_id)]
        if None in targets:
            return call_result.ChangeAvailability(status="Rejected")
        busy = any(c is not None and c.transaction_id is not None for c in targets)
        status = "Available" if type == "Operative" else "Unavailable"
        for connector in targets:
            assert connector is not None
            connector.available = type == "Operative"
            if connector.transaction_id is None:
                self.sim.status_changes.put_nowait((connector.id, status))
        return call_result.ChangeAvailability(status="Scheduled" if busy else "Accepted")

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None) -> Any:
        if requested_message in ("StatusNotification", "Heartbeat", "MeterValues", "BootNotification"):
            self.sim.triggered.put_nowait(requested_message)
            return call_result.TriggerMessage(status="Accepted")
        return call_result.TriggerMessage(status="NotImplemented")

    @on(Action.send_local_list)
    def on_send_local_list(self, list_version: int, update_type: str, **kw: Any) -> Any:
        self.sim.local_list_version = list_version
        return call_result.SendLocalList(status="Accepted")

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self) -> Any:
        return call_result.GetLocalListVersion(list_version=self.sim.local_list_version)

    @on(Action.clear_cache)
    def on_clear_cache(self) -> Any:
        return call_result.ClearCache(status="Accepted")

    @on(Action.reserve_now)
    def on_reserve_now(self, connector_id: int, reservation_id: int, **kw: Any) -> Any:
        connector = self.sim.connectors.get(connector_id)
        if connector is None:
            return call_result.ReserveNow(status="Rejected")
        if connector.status != "Available":
            return call_result.ReserveNow(status="Occupied" if connector.ev is not None else "Unavailable")
        self.sim.reservations[reservation_id] = connector_id
        self.sim.status_changes.put_nowait((connector_id, "Reserved"))
        return call_result.ReserveNow(status="Accepted")

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int) -> Any:
        connector_id = self.sim.reservations.pop(reservation_id, None)
        if connector_id is None:
            return call_result.CancelReservation(status="Rejected")
        self.sim.status_changes.put_nowait((connector_id, "Available"))
        return call_result.CancelReservation(status="Accepted")

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **kw: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.update_firmware)
    def on_update_firmware(self, location: str, retrieve_date: str, **kw: Any) -> Any:
        self.sim.locations["FirmwareUpdate"] = location
        self.sim.triggered.put_nowait("FirmwareUpdate")  # the download, Downloading ... Installed follow the answer
        return call_result.UpdateFirmware()

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(self, request_id: int, firmware: dict[str, Any], **kw: Any) -> Any:
        self.sim.locations[f"SignedFirmwareUpdate:{request_id}"] = firmware["location"]
        self.sim.triggered.put_nowait(f"SignedFirmwareUpdate:{request_id}")
        return call_result.SignedUpdateFirmware(status="Accepted")

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, **kw: Any) -> Any:
        self.sim.locations["DiagnosticsUpload"] = location
        self.sim.triggered.put_nowait("DiagnosticsUpload")  # the upload, Uploading, Uploaded follow the answer
        return call_result.GetDiagnostics(file_name="diagnostics.log")

    @on(Action.get_log)
    def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int, **kw: Any) -> Any:
        self.sim.locations[f"LogUpload:{request_id}"] = log["remote_location"]
        self.sim.triggered.put_nowait(f"LogUpload:{request_id}")
        return call_result.GetLog(status="Accepted", filename=f"log-{request_id}.log")
