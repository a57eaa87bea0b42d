"""OCPP 2.1: what 2.0.1 does here, on the 2.1 schemas (the ocpp library's v21 package), and what 2.1 adds.

2.1 keeps 2.0.1's messages for everything CoopGrid does (boot, status, transactions, meter values, device
model, security, reservations, local lists, smart charging), with added optional fields; so the 2.0.1
session serves it, validating against the 2.1 schemas. Of what 2.1 adds:
- tariffs and cost (chargepoints.tariffs): the default tariff is sent after an Accepted boot, and the cost
  a station computed itself (TransactionEvent `costDetails`) is kept with its session;
- dynamic charging profiles (chargepoints.dynamic_schedules, with `ocpp.dynamic_profiles`): a running
  transaction's limit goes out as a Dynamic TxProfile, then as UpdateDynamicSchedule, and the station's
  PullDynamicScheduleUpdate is answered with the limit in force;
- priority charging: the station's NotifyPriorityCharging puts the session in the scheduler's mode
  `priority` (its maximum, first) and takes it out again (UsePriorityCharging is sent from REST).
The other messages 2.1 adds on the station's side (bidirectional power, battery swap, ...) are answered
NotSupported until CoopGrid handles them.
"""

from __future__ import annotations

from typing import Any

from chargepoints.profiles import Unit
from chargepoints.session import handles
from chargepoints.v201 import Session201
from chargepoints.validation import protocol_actions


class Session21(Session201):
    """The central system's side of one OCPP 2.1 connection."""

    version = "2.1"
    protocol_actions = protocol_actions("2.1")
    running_cost_in_answer = True  # TransactionEventResponse.totalCost: the running cost when Updated

    async def boot(self, vendor: str, model: str, serial: str | None, firmware: str | None) -> dict[str, Any]:
        answer = await super().boot(vendor, model, serial, firmware)
        self._central.dynamic_schedules.booted(self.id)
        if answer["status"] == "Accepted":  # its default tariff, once the reply is out
            self.after_reply(lambda: self._central.station_tariffs.after_boot(self.id, self.call_learning))
        return answer

    @handles("TransactionEvent")
    async def on_transaction_event(self, p: dict[str, Any]) -> dict[str, Any]:
        answer = await super().on_transaction_event(p)
        details = p.get("costDetails")
        if details is not None:  # the cost the station computed itself, kept with the session
            record = await self._central.find_transaction_201(self.id, p["transactionInfo"]["transactionId"])
            if record is not None:
                await self._central.station_tariffs.cost_reported(record, details)
        return answer

    # -- priority charging ---------------------------------------------------------------------------
    @handles("NotifyPriorityCharging")
    async def on_notify_priority_charging(self, p: dict[str, Any]) -> dict[str, Any]:
        # the session in mode priority while the station charges it so (stored); its mode before once it stops
        await self._central.priority_charging(self.id, p["transactionId"], p["activated"])
        return {}

    # -- dynamic charging profiles ----------------------------------------------------------------
    async def send_limit(
        self, connector_id: int, limit: float, transaction_id: int | None, phases: int | None, unit: Unit
    ) -> str:
        dynamic = self._central.dynamic_schedules
        if not dynamic.enabled or transaction_id is None:
            return await super().send_limit(connector_id, limit, transaction_id, phases, unit)
        record = await self._central.get_transaction(transaction_id)
        if record is None or record.ocpp_transaction_id is None or not record.active:
            return await super().send_limit(connector_id, limit, transaction_id, phases, unit)
        return await dynamic.send_limit(
            self.call_learning, self.id, connector_id, limit, transaction_id, record.ocpp_transaction_id, phases, unit
        )

    @handles("PullDynamicScheduleUpdate")
    async def on_pull_dynamic_schedule_update(self, p: dict[str, Any]) -> dict[str, Any]:
        # the limit in force of a Dynamic profile CoopGrid installed; Rejected for any other profile id
        return self._central.dynamic_schedules.pull(self.id, p["chargingProfileId"])
