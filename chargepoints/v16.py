"""OCPP 1.6J: the central system's handlers for charger-initiated messages.

Handlers translate a payload (camelCase, as on the wire) into a call on the
CentralSystem, which owns state, storage and events, and its answer back
into the CallResult payload. Framing, validation and calls live in
chargepoints.session.
"""

from __future__ import annotations

from typing import Any

from chargepoints.file_transfers import add_timeline_handlers
from chargepoints.meter import parse_ts, readings
from chargepoints.ports import IdTagStatus
from chargepoints.profiles import Unit, tx_default_profile_16, tx_profile_16
from chargepoints.session import OcppSession, handles
from chargepoints.validation import protocol_actions


def id_tag_info(tag: IdTagStatus) -> dict[str, Any]:
    """OCPP 1.6 IdTagInfo."""
    info: dict[str, Any] = {"status": tag.status}
    if tag.expiry is not None:
        info["expiryDate"] = tag.expiry.isoformat().replace("+00:00", "Z")
    if tag.group_id:
        info["parentIdTag"] = tag.group_id
    return info


class Session16(OcppSession):
    """The central system's side of one OCPP 1.6J connection."""

    version = "1.6"
    protocol_actions = protocol_actions("1.6")
    bad_json_code = "FormationViolation"
    bad_frame_code = "ProtocolError"
    bad_type_code = "PropertyConstraintViolation"

    # -- Core ------------------------------------------------------------------
    @handles("BootNotification")
    async def on_boot_notification(self, p: dict[str, Any]) -> dict[str, Any]:
        return await self.boot(
            p["chargePointVendor"], p["chargePointModel"], p.get("chargePointSerialNumber"), p.get("firmwareVersion")
        )

    @handles("StatusNotification")
    async def on_status_notification(self, p: dict[str, Any]) -> dict[str, Any]:
        ts = parse_ts(p.get("timestamp"), self._central.now())
        await self._central.connector_status(self.id, p["connectorId"], p["status"], p["errorCode"], ts)
        return {}

    @handles("Authorize")
    async def on_authorize(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"idTagInfo": id_tag_info(await self._central.id_tag(p["idTag"]))}

    @handles("StartTransaction")
    async def on_start_transaction(self, p: dict[str, Any]) -> dict[str, Any]:
        ts = parse_ts(p["timestamp"], self._central.now())
        transaction_id, info = await self._central.start_transaction(
            self.id, p["connectorId"], p["idTag"], float(p["meterStart"]), ts, reservation_id=p.get("reservationId")
        )
        return {"transactionId": transaction_id, "idTagInfo": id_tag_info(info)}

    @handles("StopTransaction")
    async def on_stop_transaction(self, p: dict[str, Any]) -> dict[str, Any]:
        ts = parse_ts(p["timestamp"], self._central.now())
        transaction_id = p["transactionId"]
        for sample_ts, reading in readings(p.get("transactionData"), ts):
            await self._central.meter_reading(
                self.id, 0, transaction_id, sample_ts, reading, replay=True, action="StopTransaction"
            )
        await self._central.stop_transaction(
            self.id, transaction_id, float(p["meterStop"]), ts, p.get("reason") or "Local"
        )
        self.after_reply(lambda: self._central.costs.final_cost_16(self.id, transaction_id))
        if "idTag" not in p:
            return {}
        return {"idTagInfo": id_tag_info(await self._central.id_tag(p["idTag"]))}

    @handles("MeterValues")
    async def on_meter_values(self, p: dict[str, Any]) -> dict[str, Any]:
        transaction_id = p.get("transactionId")
        for ts, reading in readings(p["meterValue"], self._central.now()):
            await self._central.meter_reading(self.id, p["connectorId"], transaction_id, ts, reading)
        return {}

    @handles("DataTransfer")
    async def on_data_transfer(self, p: dict[str, Any]) -> dict[str, Any]:
        await self._central.record(self.id, "DataTransfer", p)
        return await self._central.data_transfer(self.id, p["vendorId"], p.get("messageId"), p.get("data"))

    # -- security extension (firmware and log notifications: chargepoints.file_transfers) ------
    @handles("SecurityEventNotification")
    async def on_security_event(self, p: dict[str, Any]) -> dict[str, Any]:
        await self._central.record(self.id, "SecurityEventNotification", p)
        return {}

    @handles("SignCertificate")
    async def on_sign_certificate(self, p: dict[str, Any]) -> dict[str, Any]:
        if not self._central.can_sign:
            return {"status": "Rejected"}
        csr = p["csr"]
        self.after_reply(lambda: self._central.deliver_certificate(self.id, csr))
        return {"status": "Accepted"}

    # -- what 1.6 does its own way ------------------------------------------------------------------
    async def learn(self, action: str, payload: dict[str, Any], answer: dict[str, Any]) -> None:
        if action == "GetConfiguration":
            for item in answer.get("configurationKey", []):
                value = str(item.get("value") or "")
                if item.get("key") == "NumberOfConnectors" and value.isdecimal():
                    self._central.learn_connector_count(self.id, int(value))

    async def limit_profile(
        self, connector_id: int, limit: float, transaction_id: int | None, phases: int | None, unit: Unit
    ) -> dict[str, Any]:
        return tx_profile_16(connector_id, limit, transaction_id, phases, unit=unit)

    def safe_default_profile(self, limit: float, unit: Unit) -> dict[str, Any]:
        return tx_default_profile_16(limit, unit=unit)

    async def rate_units(self) -> str | None:
        key = "ChargingScheduleAllowedChargingRateUnit"
        answer = await self.call_learning("GetConfiguration", {"key": [key]})
        for item in answer.get("configurationKey", []):
            if item.get("key") == key:
                return str(item.get("value") or "") or None
        return None


add_timeline_handlers(Session16, lambda action: action in Session16.protocol_actions)
