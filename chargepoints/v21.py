"""OCPP 2.1: what 2.0.1 does here, on the 2.1 schemas (the ocpp library's v21 package).

2.1 keeps 2.0.1's messages for everything CoopGrid does (boot, status, transactions, meter values, device
model, security, reservations, local lists, smart charging), with added optional fields; so the 2.0.1
session serves it, validating against the 2.1 schemas. The messages 2.1 adds (bidirectional power, tariffs
and cost, priority charging, battery swap, ...) are answered NotSupported until CoopGrid handles them.
"""

from __future__ import annotations

from chargepoints.v201 import Session201
from chargepoints.validation import protocol_actions


class Session21(Session201):
    """The central system's side of one OCPP 2.1 connection."""

    version = "2.1"
    protocol_actions = protocol_actions("2.1")
    running_cost_in_answer = True  # TransactionEventResponse.totalCost: the running cost when Updated
