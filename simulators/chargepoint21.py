"""A simulated OCPP 2.1 charging station: the 2.0.1 station on the 2.1 schemas, with tariffs and local cost.

Everything the 2.0.1 station does (boot, status, transactions, meter values, profiles, device model, ISO
15118, files), offered as subprotocol `ocpp2.1` and validated against the ocpp library's 2.1 schemas. What
2.1 adds here (simulators.tariff21 says how it prices):

- SetDefaultTariff: kept per EVSE (0: every EVSE); `ConditionNotSupported` for a condition it cannot
  evaluate; GetTariffs lists them and ClearTariffs removes them;
- ChangeTransactionTariff: the running transaction's tariff from now on (`TxNotFound` for one not running
  here, `NoCurrencyChange` for another currency than the one in force);
- CostUpdated: the running cost the central system tells, kept as shown on its display;
- TransactionEvent(Ended) carries `costDetails`, the cost it computed itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ocpp.routing import on
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21

from simulators.chargepoint import _Connector, _iso
from simulators.chargepoint201 import SimulatedChargePoint201, _Client201
from simulators.tariff21 import Period, cost_details, unsupported_condition


def _wire(value: Any) -> Any:
    """A payload the library hands a handler (snake_case keys) back in the wire's camelCase."""
    if isinstance(value, dict):
        return {_camel(k): _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class _Client21(_Client201):
    """The 2.0.1 station's handlers on the library's 2.1 client (schemas, call results), and 2.1's own."""

    _call = call21
    _call_result = result21
    _ocpp_version = "2.1"
    sim: SimulatedChargePoint21

    @on("SetDefaultTariff")
    def on_set_default_tariff(self, evse_id: int, tariff: dict[str, Any], **kw: Any) -> Any:
        wire = _wire(tariff)
        if evse_id != 0 and evse_id not in self.sim.connectors:
            return result21.SetDefaultTariff(status="Rejected", status_info={"reason_code": "UnknownEvse"})
        missing = unsupported_condition(wire)
        if missing is not None:
            info = {"reason_code": "Unsupported", "additional_info": missing}
            return result21.SetDefaultTariff(status="ConditionNotSupported", status_info=info)
        self.sim.default_tariffs[evse_id] = wire
        return result21.SetDefaultTariff(status="Accepted")

    @on("ChangeTransactionTariff")
    def on_change_transaction_tariff(self, transaction_id: str, tariff: dict[str, Any], **kw: Any) -> Any:
        connector = next((c for c in self.sim.connectors.values() if c.transaction_id == transaction_id), None)
        if connector is None:
            return result21.ChangeTransactionTariff(status="TxNotFound")
        wire = _wire(tariff)
        if unsupported_condition(wire) is not None:
            return result21.ChangeTransactionTariff(status="ConditionNotSupported")
        current = self.sim.tariff_in_force(connector)
        if current is not None and current.get("currency") != wire.get("currency"):
            return result21.ChangeTransactionTariff(status="NoCurrencyChange")
        self.sim.change_tariff(connector, wire)
        return result21.ChangeTransactionTariff(status="Accepted")

    @on("GetTariffs")
    def on_get_tariffs(self, evse_id: int, **kw: Any) -> Any:
        found = [(e, t) for e, t in sorted(self.sim.default_tariffs.items()) if evse_id in (0, e)]
        if not found:
            return result21.GetTariffs(status="NoTariff")
        assignments = [{"tariff_id": t["tariffId"], "tariff_kind": "DefaultTariff", "evse_ids": [e]} for e, t in found]
        return result21.GetTariffs(status="Accepted", tariff_assignments=assignments)

    @on("ClearTariffs")
    def on_clear_tariffs(self, tariff_ids: list[str] | None = None, evse_id: int | None = None, **kw: Any) -> Any:
        results = []
        for evse, tariff in list(self.sim.default_tariffs.items()):
            if (tariff_ids is None or tariff["tariffId"] in tariff_ids) and evse_id in (None, 0, evse):
                del self.sim.default_tariffs[evse]
                results.append({"tariff_id": tariff["tariffId"], "status": "Accepted"})
        if not results:
            results.append({"status": "NoTariff"})
        return result21.ClearTariffs(clear_tariffs_result=results)

    @on("CostUpdated")
    def on_cost_updated(self, total_cost: float, transaction_id: str, **kw: Any) -> Any:
        self.sim.costs_shown[transaction_id] = total_cost
        return result21.CostUpdated()


class SimulatedChargePoint21(SimulatedChargePoint201):
    subprotocol = "ocpp2.1"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default_tariffs: dict[int, dict[str, Any]] = {}  # EVSE id (0: all) -> OCPP 2.1 TariffType
        self.transaction_tariffs: dict[str, dict[str, Any]] = {}  # transaction id -> its own tariff
        self.costs_shown: dict[str, float] = {}  # transaction id -> the last running or total cost told
        self.cost_reports: dict[str, dict[str, Any]] = {}  # transaction id -> the costDetails sent at its end
        # transaction id -> its periods so far: (start, the register then, the tariff in force then)
        self._periods: dict[str, list[tuple[datetime, float, dict[str, Any] | None]]] = {}

    def _make_client(self, ws: Any) -> Any:
        return _Client21(self, ws)

    # -- tariffs -------------------------------------------------------------------------------------------
    def tariff_in_force(self, connector: _Connector) -> dict[str, Any] | None:
        """The transaction's own tariff, else the EVSE's default, else the station's."""
        own = self.transaction_tariffs.get(str(connector.transaction_id))
        return own or self.default_tariffs.get(connector.id) or self.default_tariffs.get(0)

    def change_tariff(self, connector: _Connector, tariff: dict[str, Any]) -> None:
        """ChangeTransactionTariff: a new period from now, priced at `tariff`."""
        transaction_id = str(connector.transaction_id)
        self.transaction_tariffs[transaction_id] = tariff
        self._periods.setdefault(transaction_id, []).append((self.clock.now(), connector.energy_wh, tariff))

    def _event(self, connector: _Connector, event_type: str, trigger: str, **extra: Any) -> Any:
        """TransactionEvent on the 2.1 dataclass: a period starts at each event, the cost goes with Ended."""
        transaction_id = str(connector.transaction_id)
        now = self.clock.now()
        periods = self._periods.setdefault(transaction_id, [])
        if event_type == "Ended":
            details = self._cost_details(transaction_id, connector, now)
            if details is not None:
                extra["cost_details"] = details
                self.cost_reports[transaction_id] = details
            self._periods.pop(transaction_id, None)
            self.transaction_tariffs.pop(transaction_id, None)
        else:
            periods.append((now, connector.energy_wh, self.tariff_in_force(connector)))
        return call21.TransactionEvent(
            event_type=event_type,
            timestamp=_iso(now),
            trigger_reason=trigger,
            seq_no=self._next_seq(transaction_id),
            transaction_info={"transaction_id": transaction_id, **extra.pop("info", {})},
            evse={"id": connector.id, "connector_id": 1},
            meter_value=[self._sampled(connector)],
            **extra,
        )

    def _cost_details(self, transaction_id: str, connector: _Connector, now: datetime) -> dict[str, Any] | None:
        """The transaction's cost as this station computes it; None when no tariff priced any of it."""
        marks = self._periods.get(transaction_id, [])
        priced = [tariff for _, _, tariff in marks if tariff is not None]
        if not marks or not priced:
            return None
        registers = [register for _, register, _ in marks[1:]] + [connector.energy_wh]
        periods = [
            Period(start, max(0.0, until - register), tariff)
            for (start, register, tariff), until in zip(marks, registers, strict=True)
        ]
        return cost_details(periods, marks[0][0], now, str(priced[0].get("currency", "EUR")))
