"""Domain events emitted by the central system (plain, frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ChargerConnected:
    charge_point_id: str
    ocpp_version: str
    ts: datetime


@dataclass(frozen=True, slots=True)
class ChargerDisconnected:
    charge_point_id: str
    ts: datetime


@dataclass(frozen=True, slots=True)
class ConnectorStatusChanged:
    charge_point_id: str
    connector_id: int
    status: str
    error_code: str
    ts: datetime


@dataclass(frozen=True, slots=True)
class TransactionStarted:
    charge_point_id: str
    connector_id: int
    transaction_id: int
    id_tag: str
    meter_start_wh: float
    ts: datetime


@dataclass(frozen=True, slots=True)
class TransactionStopped:
    charge_point_id: str
    transaction_id: int
    meter_stop_wh: float
    reason: str
    ts: datetime


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One normalised meter reading (Wh, W, A) of a connector."""

    charge_point_id: str
    connector_id: int
    transaction_id: int | None
    ts: datetime
    energy_wh: float | None = None
    power_w: float | None = None
    current_a: float | None = None


ChargePointEvent = (
    ChargerConnected
    | ChargerDisconnected
    | ConnectorStatusChanged
    | TransactionStarted
    | TransactionStopped
    | MeterSample
)
