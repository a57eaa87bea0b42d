"""A simulated OCPP 2.0.1 charging station: the same EV model and behaviour as the 1.6 one.

Protocol differences only: BootNotification with a chargingStation object,
StatusNotification per EVSE with connector statuses (Occupied while a car is
plugged), transactions as TransactionEvent Started/Updated/Ended with the
station's own transaction id and a seqNo, charging profiles per EVSE with a
list of schedules, and the device model's RateUnit answered from GetVariables.
"""

from __future__ import annotations

import uuid
from typing import Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v201 import ChargePoint as _LibChargePoint201
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from simulators.chargepoint import SimulatedChargePoint, _Connector, _iso
from simulators.client16 import _QUIET
from simulators.ev import EVArrival, Profile
from simulators.iso15118 import charging_needs, charging_schedule, departure

_CONNECTOR_STATUS = {
    "Available": "Available",
    "Finishing": "Occupied",
    "Preparing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
}


class _Client201(_LibChargePoint201):
    def __init__(self, sim: SimulatedChargePoint201, connection: Any) -> None:
        super().__init__(sim.id, connection, response_timeout=30, logger=_QUIET)
        self.sim = sim

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any], **kw: Any) -> Any:
        if self.sim.reject_profiles:
            return call_result.SetChargingProfile(status="Rejected")
        profile = Profile.from_201(evse_id, snake_to_camel_case(charging_profile))
        self.sim.profiles.install(profile)
        connector = self.sim.connectors.get(evse_id)
        if (
            connector is not None
            and connector.ev is not None
            and connector.ev.iso15118
            and profile.purpose == "TxProfile"
            and profile.transaction_id == connector.transaction_id
        ):  # ISO 15118: the station renegotiates with the EV, which reports the schedule it plans
            self.sim.triggered.put_nowait(f"EVChargingSchedule:{evse_id}")
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **kw: Any) -> Any:
        removed = self.sim.profiles.clear(kw.get("charging_profile_id"))
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kw: Any) -> Any:
        results = []
        for item in get_variable_data:
            key = (item["component"]["name"], item["variable"]["name"])
            value = self.sim.variables.get(key)
            result = {"component": item["component"], "variable": item["variable"]}
            if value is None:
                result["attribute_status"] = "UnknownVariable"
            else:
                result.update(attribute_status="Accepted", attribute_value=value)
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kw: Any) -> Any:
        results = []
        for item in set_variable_data:
            self.sim.variables[(item["component"]["name"], item["variable"]["name"])] = item["attribute_value"]
            results.append(
                {"attribute_status": "Accepted", "component": item["component"], "variable": item["variable"]}
            )
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id: int, report_base: str, **kw: Any) -> Any:
        return call_result.GetBaseReport(status="Accepted")

    @on(Action.request_start_transaction)
    def on_request_start(
        self, id_token: dict[str, Any], remote_start_id: int, evse_id: int | None = None, **kw: Any
    ) -> Any:
        connector = self.sim.connectors.get(evse_id or 1)
        if connector is None or connector.ev is not None:
            return call_result.RequestStartTransaction(status="Rejected")
        self.sim.remote_starts.put_nowait((connector.id, id_token["id_token"], EVArrival(self.sim.clock.elapsed_s())))
        return call_result.RequestStartTransaction(status="Accepted")

    @on(Action.request_stop_transaction)
    def on_request_stop(self, transaction_id: str, **kw: Any) -> Any:
        for connector in self.sim.connectors.values():
            if connector.transaction_id == transaction_id and connector.ev is not None:
                connector.ev.departs_at_s = self.sim.clock.elapsed_s()
                return call_result.RequestStopTransaction(status="Accepted")
        return call_result.RequestStopTransaction(status="Rejected")

    @on(Action.get_transaction_status)
    def on_get_transaction_status(self, transaction_id: str | None = None, **kw: Any) -> Any:
        """E14: whether a transaction still runs here, and whether transaction messages wait in the outbox."""
        queued = [m for m in self.sim._outbox if type(m).__name__ == "TransactionEvent"]
        if transaction_id is None:
            return call_result.GetTransactionStatus(messages_in_queue=bool(queued))
        ongoing = any(c.transaction_id == transaction_id for c in self.sim.connectors.values())
        mine = any(m.transaction_info.get("transaction_id") == transaction_id for m in queued)
        return call_result.GetTransactionStatus(messages_in_queue=mine, ongoing_indicator=ongoing)

    @on(Action.reset)
    def on_reset(self, type: str, **kw: Any) -> Any:  # noqa: A002 - OCPP's field name
        self.sim.resets.append(type)
        return call_result.Reset(status="Accepted")

    @on(Action.unlock_connector)
    def on_unlock(self, evse_id: int, connector_id: int, **kw: Any) -> Any:
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.change_availability)
    def on_change_availability(self, operational_status: str, evse: dict[str, Any] | None = None, **kw: Any) -> Any:
        chosen = (evse or {}).get("id", 0)
        targets = [c for c in self.sim.connectors.values() if chosen in (0, c.id)]
        if not targets:
            return call_result.ChangeAvailability(status="Rejected")
        for connector in targets:
            connector.available = operational_status == "Operative"
            if connector.transaction_id is None:
                self.sim.status_changes.put_nowait(
                    (connector.id, "Available" if connector.available else "Unavailable")
                )
        busy = any(c.transaction_id is not None for c in targets)
        return call_result.ChangeAvailability(status="Scheduled" if busy else "Accepted")

    @on(Action.reserve_now)
    def on_reserve_now(self, id: int, evse_id: int | None = None, **kw: Any) -> Any:  # noqa: A002
        connector = self.sim.connectors.get(evse_id or 1)
        if connector is None or connector.status != "Available":
            return call_result.ReserveNow(status="Occupied" if connector and connector.ev else "Rejected")
        self.sim.reservations[id] = connector.id
        self.sim.status_changes.put_nowait((connector.id, "Reserved"))
        return call_result.ReserveNow(status="Accepted")

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **kw: Any) -> Any:
        connector_id = self.sim.reservations.pop(reservation_id, None)
        if connector_id is None:
            return call_result.CancelReservation(status="Rejected")
        self.sim.status_changes.put_nowait((connector_id, "Available"))
        return call_result.CancelReservation(status="Accepted")

    @on(Action.send_local_list)
    def on_send_local_list(self, version_number: int, update_type: str, **kw: Any) -> Any:
        self.sim.local_list_version = version_number
        return call_result.SendLocalList(status="Accepted")

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **kw: Any) -> Any:
        return call_result.GetLocalListVersion(version_number=self.sim.local_list_version)

    @on(Action.clear_cache)
    def on_clear_cache(self, **kw: Any) -> Any:
        return call_result.ClearCache(status="Accepted")

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **kw: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.update_firmware)
    def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **kw: Any) -> Any:
        self.sim.locations[f"FirmwareUpdate:{request_id}"] = firmware["location"]
        self.sim.triggered.put_nowait(f"FirmwareUpdate:{request_id}")
        return call_result.UpdateFirmware(status="Accepted")

    @on(Action.get_log)
    def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int, **kw: Any) -> Any:
        self.sim.locations[f"LogUpload:{request_id}"] = log["remote_location"]
        self.sim.triggered.put_nowait(f"LogUpload:{request_id}")
        return call_result.GetLog(status="Accepted", filename=f"log-{request_id}.log")

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, **kw: Any) -> Any:
        if requested_message in ("StatusNotification", "Heartbeat", "MeterValues", "BootNotification"):
            self.sim.triggered.put_nowait(requested_message)
            return call_result.TriggerMessage(status="Accepted")
        return call_result.TriggerMessage(status="NotImplemented")


class SimulatedChargePoint201(SimulatedChargePoint):
    subprotocol = "ocpp2.0.1"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.variables: dict[tuple[str, str], str] = {
            ("SmartChargingCtrlr", "RateUnit"): "A,W",
            ("SmartChargingCtrlr", "Enabled"): "true",
            ("SampledDataCtrlr", "TxUpdatedInterval"): str(int(self.meter_interval_s)),
        }
        self._seq: dict[str, int] = {}
        self.iso15118_answers: list[tuple[Any, Any]] = []  # (message, the answer) of the EV's ISO 15118 messages
        self._schedules = 0

    def _make_client(self, ws: Any) -> Any:
        return _Client201(self, ws)

    def _boot_message(self) -> Any:
        return call.BootNotification(
            charging_station={"model": self.model, "vendor_name": self.vendor}, reason="PowerUp"
        )

    def _heartbeat_message(self) -> Any:
        return call.Heartbeat()

    upload_multipart = False  # PUT, the raw file under its name

    def _file_notification(self, flow: str, status: str, request_id: int | None) -> Any:
        if flow == "FirmwareUpdate":
            return call.FirmwareStatusNotification(status=status, request_id=request_id)
        return call.LogStatusNotification(status=status, request_id=request_id)

    def _ev_messages(self, flow: str) -> list[Any]:
        """An ISO 15118 flow ("EVChargingNeeds:<evse>", "EVChargingSchedule:<evse>"): what its EV tells."""
        name, _, evse = flow.partition(":")
        return self._iso15118(name, self.connectors[int(evse)])

    def _iso15118(self, name: str, connector: _Connector) -> list[Any]:
        """What the connector's ISO 15118 EV tells now: its charging needs, or its schedule under the offer."""
        ev = connector.ev
        if ev is None or not ev.iso15118 or connector.transaction_id is None:
            return []
        phases = connector.phases or self.phases
        if name == "EVChargingNeeds":
            leaves = departure(self.clock.start, ev.departs_at_s)
            return [charging_needs(ev, connector.id, phases, self.voltage_v, leaves)]
        now_s, now = self.clock.elapsed_s(), self.clock.now()
        offered, phases = self.profiles.offer(
            connector.id, connector.transaction_id, now_s - connector.tx_started_s, now, self.phases, self.voltage_v,
            self.max_current_a,
        )  # fmt: skip
        self._schedules += 1
        return [charging_schedule(ev, connector.id, offered, phases, self.voltage_v, now, self._schedules)]

    async def _call(self, client: Any, message: Any) -> Any:
        answer = await super()._call(client, message)
        pnc = isinstance(message, call.Authorize) and message.iso15118_certificate_hash_data
        if pnc or isinstance(message, call.NotifyEVChargingNeeds | call.NotifyEVChargingSchedule):
            self.iso15118_answers.append((message, answer))
        return answer

    def _status(self, connector: _Connector) -> Any:
        return call.StatusNotification(
            timestamp=_iso(self.clock.now()),
            connector_status=_CONNECTOR_STATUS.get(connector.status, "Occupied"),
            evse_id=connector.id,
            connector_id=1,
        )

    async def _authorize(self, id_tag: str) -> bool:
        # Plug & Charge: the EV plugged in and not yet charging presents its contract (C07, by hash data)
        contract = next((c.ev.contract for c in self.connectors.values() if c.ev and c.transaction_id is None), ())
        if contract:
            message = call.Authorize(
                id_token={"id_token": id_tag, "type": "eMAID"},
                iso15118_certificate_hash_data=[dict(item) for item in contract],
            )
        else:
            message = call.Authorize(id_token={"id_token": id_tag, "type": "ISO14443"})
        answer = await self._send(message)
        return answer is not None and answer.id_token_info["status"] == "Accepted"

    def _next_seq(self, transaction_id: str) -> int:
        seq = self._seq.get(transaction_id, -1) + 1
        self._seq[transaction_id] = seq
        return seq

    def _event(self, connector: _Connector, event_type: str, trigger: str, **extra: Any) -> Any:
        transaction_id = str(connector.transaction_id)
        return call.TransactionEvent(
            event_type=event_type,
            timestamp=_iso(self.clock.now()),
            trigger_reason=trigger,
            seq_no=self._next_seq(transaction_id),
            transaction_info={"transaction_id": transaction_id, **extra.pop("info", {})},
            evse={"id": connector.id, "connector_id": 1},
            meter_value=[self._sampled(connector)],
            **extra,
        )

    def _sampled(self, connector: _Connector) -> dict[str, Any]:
        power = connector.drawn_a * (connector.phases or self.phases) * self.voltage_v
        values = [
            {
                "value": round(connector.energy_wh, 1),
                "measurand": "Energy.Active.Import.Register",
                "unit_of_measure": {"unit": "Wh"},
            },
            {"value": round(power, 1), "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W"}},
        ]
        values += [
            {
                "value": round(connector.drawn_a, 1),
                "measurand": "Current.Import",
                "phase": f"L{p}",
                "unit_of_measure": {"unit": "A"},
            }
            for p in range(1, (connector.phases or self.phases) + 1)
        ]
        return {"timestamp": _iso(self.clock.now()), "sampled_value": values}

    async def _start(self, connector: _Connector, id_tag: str) -> bool:
        connector.transaction_id = uuid.uuid4().hex[:20]
        answer = await self._send(
            self._event(connector, "Started", "Authorized", id_token={"id_token": id_tag, "type": "ISO14443"})
        )
        status = (answer.id_token_info or {}).get("status") if answer is not None else None
        if status != "Accepted":
            connector.transaction_id = None
            return False
        if connector.ev is not None and connector.ev.iso15118:  # K15: the EV's needs once the transaction runs
            self.triggered.put_nowait(f"EVChargingNeeds:{connector.id}")
        return True

    async def _stop(self, connector: _Connector, id_tag: str, reason: str) -> None:
        stopped = {"EVDisconnected": "EVDisconnected", "Local": "Local"}.get(reason, "Other")
        await self._send(
            self._event(connector, "Ended", "EVDeparted", info={"stopped_reason": stopped}), queue_when_offline=True
        )

    def _meter_values(self, connector: _Connector) -> Any:
        return self._event(connector, "Updated", "MeterValuePeriodic")
