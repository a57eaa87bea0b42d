"""OCPP 2.0.1: the central system's handlers for charging-station-initiated messages.

Same shape as v16: each handler turns a payload into calls on the
CentralSystem and its answer into the response payload. EVSE ids take the
place of 1.6 connector ids; transactions carry the station's own ids and a
seqNo, so a TransactionEvent resent after a reconnect changes nothing.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from chargepoints.device_model import BYTES, ITEMS, LIMITED, limit_of, merge, split
from chargepoints.file_transfers import add_timeline_handlers
from chargepoints.meter import Reading, parse_ts, readings
from chargepoints.ports import IdTagStatus, TransactionRecord
from chargepoints.profiles import Unit, tx_default_profile_201, tx_profile_201
from chargepoints.session import OcppSession, handles
from chargepoints.validation import protocol_actions

ENERGY = "Energy.Active.Import.Register"


def _readings(meter_values: list[dict[str, Any]] | None, default_ts: datetime) -> list[tuple[datetime, Reading]]:
    """Every MeterValue as (timestamp, Reading); one that is not a finite number refuses them all."""
    return readings(meter_values, default_ts, _flatten)


def _flatten(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """2.0.1 sampled values put the unit in unitOfMeasure and scale by 10^multiplier."""
    out = []
    for sample in samples:
        unit = (sample.get("unitOfMeasure") or {}).get("unit")
        multiplier = (sample.get("unitOfMeasure") or {}).get("multiplier", 0)
        value = sample.get("value")
        if isinstance(value, int | float) and multiplier:
            try:  # in floating point: 10**multiplier of a 32-bit multiplier as an integer would never end
                value = value * 10.0**multiplier
            except OverflowError:
                value = float("inf")  # refused by readings()
        flat = {"value": value, "measurand": sample.get("measurand") or ENERGY, "phase": sample.get("phase")}
        if unit:
            flat["unit"] = unit
        out.append(flat)
    return out


def id_token_info(tag: IdTagStatus) -> dict[str, Any]:
    """OCPP 2.0.1 IdTokenInfo: a token we do not know is Unknown."""
    info: dict[str, Any] = {"status": "Unknown" if not tag.known else tag.status}
    if tag.expiry is not None:
        info["cacheExpiryDateTime"] = tag.expiry.isoformat().replace("+00:00", "Z")
    if tag.group_id:
        info["groupIdToken"] = {"idToken": tag.group_id, "type": "Central"}
    return info


class Session201(OcppSession):
    """The central system's side of one OCPP 2.0.1 connection."""

    version = "2.0.1"
    protocol_actions = protocol_actions("2.0.1")
    bad_json_code = "FormatViolation"
    bad_frame_code = "RpcFrameworkError"
    bad_type_code = "MessageTypeNotSupported"
    _inventory: tuple[int, set[int]] | None = None  # (requestId, EVSE ids) of a full inventory underway

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._heard: set[str] = set()  # the transactions its TransactionEvents named on this connection

    async def connected(self) -> None:
        """E14 after a reconnect (chargepoints.transaction_status): what CoopGrid holds open for the station
        and it has not reported on a while after connecting is asked about, one GetTransactionStatus each."""
        delay_s = self._central.transaction_status_after_s
        if delay_s <= 0:
            return
        await asyncio.sleep(delay_s)
        if self._central.registration_of(self.id) != "Accepted":
            return
        for transaction_id in await self._central.unreported_transactions(self.id, self._heard):
            await self.call_learning("GetTransactionStatus", {"transactionId": transaction_id})

    # -- provisioning ----------------------------------------------------------------
    @handles("BootNotification")
    async def on_boot_notification(self, p: dict[str, Any]) -> dict[str, Any]:
        station = p["chargingStation"]
        return await self.boot(
            station["vendorName"], station["model"], station.get("serialNumber"), station.get("firmwareVersion")
        )

    @handles("StatusNotification")
    async def on_status_notification(self, p: dict[str, Any]) -> dict[str, Any]:
        ts = parse_ts(p["timestamp"], self._central.now())
        await self._central.connector_status(self.id, p["evseId"], p["connectorStatus"], "NoError", ts)
        return {}

    @handles("NotifyReport")
    async def on_notify_report(self, p: dict[str, Any]) -> dict[str, Any]:
        variables = []
        for item in p.get("reportData", []):
            component = _component(item)
            name = _variable(item)
            for attribute in item.get("variableAttribute", []):
                variables.append(
                    (
                        component,
                        name,
                        attribute.get("type", "Actual"),
                        attribute.get("value"),
                        attribute.get("mutability"),
                    )
                )
                if attribute.get("type", "Actual") == "Actual":
                    self._learn_limit(item, attribute.get("value"))
        await self._central.store_variables(self.id, variables)
        evse_ids = {(item["component"].get("evse") or {}).get("id", 0) for item in p.get("reportData", [])}
        self._inventory_report(p["requestId"], evse_ids, bool(p.get("tbc", False)))
        return {}

    def _learn_limit(self, item: dict[str, Any], value: object) -> None:
        """An ItemsPerMessage or BytesPerMessage the station reported: its requests are split by it."""
        found = limit_of(item["component"]["name"], item["variable"]["name"], item["variable"].get("instance"), value)
        if found is not None:
            kind, action, limit = found
            self._central.message_limits(self.id)[(kind, action)] = limit

    # -- authorization ----------------------------------------------------------------------
    @handles("Authorize")
    async def on_authorize(self, p: dict[str, Any]) -> dict[str, Any]:
        info = id_token_info(await self._central.id_tag(p["idToken"]["idToken"]))
        hash_data, pem = p.get("iso15118CertificateHashData"), p.get("certificate")
        if hash_data:
            status = await self._central.certificate_status(self.id, hash_data)
        else:
            status = await self._central.certificate_pem_status(self.id, pem) if pem else None
        if status is None:
            return {"idTokenInfo": info}
        if status != "Accepted":  # C07: a contract certificate that is not valid does not authorize
            info["status"] = "Invalid"
        return {"idTokenInfo": info, "certificateStatus": status}

    # -- transactions ---------------------------------------------------------------------------
    @handles("TransactionEvent")
    async def on_transaction_event(self, p: dict[str, Any]) -> dict[str, Any]:
        ts = parse_ts(p["timestamp"], self._central.now())
        event_type = p["eventType"]
        ocpp_id = p["transactionInfo"]["transactionId"]
        self._heard.add(ocpp_id)
        evse_id = (p.get("evse") or {}).get("id", 1)
        id_token = (p.get("idToken") or {}).get("idToken")
        seq_no = p["seqNo"]
        samples = _readings(p.get("meterValue"), ts)  # all read (and checked) before anything changes
        energies = [reading.energy_wh for _, reading in samples if reading.energy_wh is not None]
        energy = energies[-1] if energies else None
        record = await self._central.find_transaction_201(self.id, ocpp_id)
        started = record is None
        if record is None:
            # Started, or the first event we hear of an offline transaction.
            record = await self._central.start_transaction_201(
                self.id, evse_id, ocpp_id, id_token or "", energy or 0.0, ts
            )
        elif record.last_seq_no is not None and seq_no <= record.last_seq_no:
            # Resent after a reconnect: the same answer (the reservation rules give it again), no change.
            if event_type == "Started" or p.get("reservationId") is not None:
                return await self._reservation_answer(p, evse_id, id_token, record.id)
            return await self._with_cost(event_type, record, await self._transaction_answer(id_token))
        answer: dict[str, Any] | None = None
        if started or p.get("reservationId") is not None:  # H03: a transaction using a reservation ends it
            answer = await self._reservation_answer(p, evse_id, id_token, record.id)
        if event_type != "Ended":
            for sample_ts, reading in samples:
                await self._central.meter_reading(
                    self.id, evse_id, record.id, sample_ts, reading, action="TransactionEvent"
                )
        else:
            stop_wh = energy if energy is not None else self._central.last_register(record)
            reason = p["transactionInfo"].get("stoppedReason") or "Local"
            await self._central.stop_transaction(self.id, record.id, stop_wh, ts, reason, action="TransactionEvent")
        await self._central.transaction_seq_no(record.id, seq_no)
        answer = answer if answer is not None else await self._transaction_answer(id_token)
        return await self._with_cost(event_type, record, answer)

    running_cost_in_answer = False  # 2.1: the running cost in each Updated answer; 2.0.1: totalCost at the end only

    async def _with_cost(self, event_type: str, record: TransactionRecord, answer: dict[str, Any]) -> dict[str, Any]:
        """The answer with totalCost: the total at the end (I03), in 2.1 the running cost while it runs."""
        total = None
        if event_type == "Ended":
            total = await self._central.costs.final_total(self.id, record)
        elif event_type == "Updated" and self.running_cost_in_answer:
            total = await self._central.costs.running_total(record)
        return answer if total is None else {**answer, "totalCost": total}

    async def _reservation_answer(
        self, p: dict[str, Any], evse_id: int, id_token: str | None, transaction_id: int
    ) -> dict[str, Any]:
        """The answer to a transaction's first event: its id token's status, held to the EVSE's reservation."""
        info = await self._central.id_tag(id_token) if id_token else IdTagStatus("Accepted")
        info = await self._central.reservation_check(
            self.id, evse_id, id_token or "", p.get("reservationId"), transaction_id, info
        )
        return {"idTokenInfo": id_token_info(info)} if id_token else {}

    async def _transaction_answer(self, id_token: str | None) -> dict[str, Any]:
        if id_token is None:
            return {}
        return {"idTokenInfo": id_token_info(await self._central.id_tag(id_token))}

    @handles("MeterValues")
    async def on_meter_values(self, p: dict[str, Any]) -> dict[str, Any]:
        for ts, reading in _readings(p["meterValue"], self._central.now()):
            await self._central.meter_reading(self.id, p["evseId"], None, ts, reading)
        return {}

    # -- security, firmware, diagnostics, smart charging reports: recorded and acknowledged --------
    @handles("SignCertificate")
    async def on_sign_certificate(self, p: dict[str, Any]) -> dict[str, Any]:
        # A02/A03: the station's own certificate, signed by our CA and sent back with its certificateType. A V2G
        # certificate is an ISO 15118 PKI's to sign, which CoopGrid does not run: refused.
        certificate_type = p.get("certificateType", "ChargingStationCertificate")
        if not self._central.can_sign or certificate_type != "ChargingStationCertificate":
            return {"status": "Rejected"}
        csr = p["csr"]
        self.after_reply(lambda: self._central.deliver_certificate(self.id, csr, certificate_type))
        return {"status": "Accepted"}

    @handles("DataTransfer")
    async def on_data_transfer(self, p: dict[str, Any]) -> dict[str, Any]:
        await self._central.record(self.id, "DataTransfer", p)
        return await self._central.data_transfer(self.id, p["vendorId"], p.get("messageId"), p.get("data"))

    @handles("Get15118EVCertificate")
    async def on_get_15118_certificate(self, p: dict[str, Any]) -> dict[str, Any]:
        # M02: relayed to the configured contract-certificate service (Failed without one)
        return await self._central.ev_certificate(self.id, p)

    @handles("GetCertificateStatus")
    async def on_get_certificate_status(self, p: dict[str, Any]) -> dict[str, Any]:
        # M06: relayed to the configured OCSP responder (never the responderURL the station names)
        result = await self._central.ocsp_result(self.id, p["ocspRequestData"])
        return {"status": "Failed"} if result is None else {"status": "Accepted", "ocspResult": result}

    @handles("NotifyEVChargingNeeds")
    async def on_ev_charging_needs(self, p: dict[str, Any]) -> dict[str, Any]:
        # K15/K17 (chargepoints.ev_charging): the session's departure target; a TxProfile within the EV's range
        answer, then = await self._central.ev_charging_needs(self.id, p)
        if then is not None:
            self.after_reply(then)
        return answer

    @handles("NotifyEVChargingSchedule")
    async def on_ev_charging_schedule(self, p: dict[str, Any]) -> dict[str, Any]:
        # K15-K17: the EV's schedule, Accepted within the TxProfile sent for the EVSE, else Rejected
        return await self._central.ev_charging_schedule(self.id, p)

    @handles("ReservationStatusUpdate")
    async def on_reservation_status_update(self, p: dict[str, Any]) -> dict[str, Any]:
        await self._central.record(self.id, "ReservationStatusUpdate", p)
        await self._central.reservation_status(self.id, p["reservationId"], p["reservationUpdateStatus"])
        return {}

    # -- what 2.0.1 does its own way ----------------------------------------------------------------
    async def call_learning(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Requests split by the station's ItemsPerMessage and BytesPerMessage, their answers merged."""
        if action not in LIMITED:
            return await self._call_learning_one(action, payload)
        limits = await self._central.stored_message_limits(self.id)
        parts = split(action, payload, limits.get((ITEMS, action)), limits.get((BYTES, action)))
        return merge(action, [await self._call_learning_one(action, part) for part in parts])

    async def _call_learning_one(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        full_inventory = action == "GetBaseReport" and payload.get("reportBase") == "FullInventory"
        if full_inventory and isinstance(payload.get("requestId"), int):
            self._inventory = (payload["requestId"], set())  # before the call: its reports may come at once
        try:
            answer = await super().call_learning(action, payload)
        except BaseException:
            if full_inventory:
                self._inventory = None
            raise
        if full_inventory and answer.get("status") != "Accepted":
            self._inventory = None
        return answer

    def _inventory_report(self, request_id: int, evse_ids: set[int], more: bool) -> None:
        """A NotifyReport: the EVSEs of a full inventory we asked for say how many EVSEs the station has."""
        if self._inventory is None or self._inventory[0] != request_id:
            return
        self._inventory[1].update(i for i in evse_ids if 0 < i < 2**31)
        if not more:
            if self._inventory[1]:
                self._central.learn_connector_count(self.id, max(self._inventory[1]))
            self._inventory = None

    async def learn(self, action: str, payload: dict[str, Any], answer: dict[str, Any]) -> None:
        if action == "GetVariables":
            for result in answer.get("getVariableResult", []):
                if result.get("attributeStatus") == "Accepted" and result.get("attributeType", "Actual") == "Actual":
                    self._learn_limit(result, result.get("attributeValue"))
        if action in ("GetVariables", "SetVariables"):
            await self._central.store_variables(self.id, _learned_variables(action, payload, answer))
        if action == "GetTransactionStatus":  # E14: chargepoints.transaction_status
            ongoing = answer.get("ongoingIndicator")
            await self._central.transaction_status(
                self.id, payload.get("transactionId"), ongoing, bool(answer.get("messagesInQueue"))
            )

    async def limit_profile(
        self, connector_id: int, limit: float, transaction_id: int | None, phases: int | None, unit: Unit
    ) -> dict[str, Any]:
        ocpp_id = None
        if transaction_id is not None:
            record = await self._central.get_transaction(transaction_id)
            ocpp_id = record.ocpp_transaction_id if record else None
        return tx_profile_201(connector_id, limit, ocpp_id, phases, unit=unit)

    def safe_default_profile(self, limit: float, unit: Unit) -> dict[str, Any]:
        return tx_default_profile_201(limit, unit=unit)

    async def rate_units(self) -> str | None:
        request = {"component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "RateUnit"}}
        answer = await self.call_learning("GetVariables", {"getVariableData": [request]})
        for result in answer.get("getVariableResult", []):
            if result.get("attributeStatus") == "Accepted":
                return str(result.get("attributeValue") or "") or None
        return None


def _acknowledge(action: str) -> Any:
    async def handler(self: Session201, p: dict[str, Any]) -> dict[str, Any]:
        await self._central.record(self.id, action, p)
        return {}

    handler.__name__ = f"on_{action}"
    return handles(action)(handler)


# Messages whose only CSMS duty is to take note: recorded as charger events.
for _action in (
    "SecurityEventNotification",
    "PublishFirmwareStatusNotification",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "NotifyChargingLimit",
    "ClearedChargingLimit",
    "ReportChargingProfiles",
    "NotifyDisplayMessages",
    "NotifyCustomerInformation",
):
    setattr(Session201, f"on_{_action}", _acknowledge(_action))
add_timeline_handlers(Session201, lambda action: action in Session201.protocol_actions)  # collects the handlers


def _component(item: dict[str, Any]) -> str:
    component = item["component"]
    name = str(component["name"])
    evse = component.get("evse")
    return f"{name}@{evse.get('id')}" if evse else name


def _variable(item: dict[str, Any]) -> str:
    """A variable's name, with its instance when it has one: ItemsPerMessage[GetVariables]."""
    variable = item["variable"]
    instance = variable.get("instance")
    return f"{variable['name']}[{instance}]" if instance else str(variable["name"])


def _learned_variables(
    action: str, request: dict[str, Any], answer: dict[str, Any]
) -> list[tuple[str, str, str, str | None, str | None]]:
    """Device-model variables confirmed by a GetVariables answer or an accepted SetVariables."""
    learned: list[tuple[str, str, str, str | None, str | None]] = []
    if action == "GetVariables":
        for result in answer.get("getVariableResult", []):
            if result.get("attributeStatus") == "Accepted":
                attribute = result.get("attributeType", "Actual")
                learned.append((_component(result), _variable(result), attribute, result.get("attributeValue"), None))
    else:
        statuses = [r.get("attributeStatus") for r in answer.get("setVariableResult", [])]
        for item, status in zip(request.get("setVariableData", []), statuses, strict=False):
            if status == "Accepted":
                attribute = item.get("attributeType", "Actual")
                learned.append((_component(item), _variable(item), attribute, item.get("attributeValue"), None))
    return learned
