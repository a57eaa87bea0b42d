"""The OCPP central system.

Rules of this package: it imports nothing of CoopGrid's other packages, does no
I/O of its own choosing (the WebSocket, the repository, the event sink and the
clock are handed in as ports), and translates OCPP messages into domain events.
"""

from chargepoints.errors import ChargePointError, NotConnected, UnknownChargePoint
from chargepoints.events import (
    ChargerConnected,
    ChargerDisconnected,
    ConnectorStatusChanged,
    MeterSample,
    TransactionStarted,
    TransactionStopped,
)

__all__ = [
    "ChargePointError",
    "ChargerConnected",
    "ChargerDisconnected",
    "ConnectorStatusChanged",
    "MeterSample",
    "NotConnected",
    "TransactionStarted",
    "TransactionStopped",
    "UnknownChargePoint",
]
