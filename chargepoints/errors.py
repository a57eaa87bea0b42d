"""One exception family for the central system."""


class ChargePointError(Exception):
    """Base class of every error raised by the central system."""


class UnknownChargePoint(ChargePointError):
    """No charger with this id is registered."""


class NotConnected(ChargePointError):
    """The charger is known but has no open OCPP connection here."""


class CallFailed(ChargePointError):
    """The charger answered a CSMS-initiated call with a CallError."""

    def __init__(self, code: str, description: str = "") -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description


class CallTimeout(ChargePointError):
    """The charger did not answer a CSMS-initiated call in time."""


class ConnectionEnded(ChargePointError):
    """The charger's WebSocket closed; raised by Connection.recv()."""


class NotAccepted(ChargePointError):
    """The charger's registration (Pending or Rejected) forbids this call (OCPP 1.6 §4.2, 2.0.1 B02/B03)."""
