"""Charge-point events mirrored between instances on `events/chargepoints`: the codec."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import Any

from chargepoints import events as cp_events

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)


_EVENT_TYPES = {
    cls.__name__: cls
    for cls in (
        cp_events.ChargerConnected,
        cp_events.ChargerDisconnected,
        cp_events.ConnectorStatusChanged,
        cp_events.TransactionStarted,
        cp_events.TransactionStopped,
        cp_events.MeterSample,
    )
}


def encode_event(event: object, instance_id: str) -> dict[str, Any] | None:
    name = type(event).__name__
    if name not in _EVENT_TYPES:
        return None
    fields = {
        f.name: (
            getattr(event, f.name).isoformat()
            if isinstance(getattr(event, f.name), datetime)
            else getattr(event, f.name)
        )
        for f in dataclasses.fields(event)  # type: ignore[arg-type]
    }
    return {"type": name, "instance": instance_id, "event": fields}


def decode_event(message: dict[str, Any]) -> object:
    cls = _EVENT_TYPES[message["type"]]
    values = dict(message["event"])
    values["ts"] = datetime.fromisoformat(values["ts"])
    return cls(**values)
