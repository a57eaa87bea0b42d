"""OCPP 2.1: what 2.0.1 does here, on the 2.1 schemas (the ocpp library's v21 package), and 2.1's tariffs.

2.1 keeps 2.0.1's messages for everything CoopGrid does (boot, status, transactions, meter values, device
model, security, reservations, local lists, smart charging), with added optional fields; so the 2.0.1
session serves it, validating against the 2.1 schemas. Of what 2.1 adds, tariffs and cost (chargepoints.
tariffs): the default tariff is sent after an Accepted boot, and the cost a station computed itself
(TransactionEvent `costDetails`) is kept with its session. The other messages 2.1 adds on the station's
side (bidirectional power, priority charging, dynamic schedules, battery swap, ...) are answered
NotSupported until CoopGrid handles them.
"""

from __future__ import annotations

from typing import Any

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
