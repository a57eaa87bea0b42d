"""A simulated OCPP 2.1 charging station: the 2.0.1 station on the 2.1 schemas, with tariffs and local cost.

Everything the 2.0.1 station does (boot, status, transactions, meter values, profiles, device model, ISO
15118, files), offered as subprotocol `ocpp2.1` and validated against the ocpp library's 2.1 schemas. What
2.1 adds here (simulators.tariff21 says how it prices):

- SetDefaultTariff: kept per EVSE (0: every EVSE); `ConditionNotSupported` for a condition it cannot
  evaluate; GetTariffs lists them and ClearTariffs removes them;
- ChangeTransactionTariff: the running transaction's tariff from now on (`TxNotFound` for one not running
  here, `NoCurrencyChange` for another currency than the one in force);
- CostUpdated: the running cost the central system tells, kept as shown on its display;
- TransactionEvent(Ended) carries `costDetails`, the cost it computed itself;
- Dynamic charging profiles: a Dynamic TxProfile is followed like any other, its one period's limit changed
  in place by UpdateDynamicSchedule (`Rejected` for a profile id it has no Dynamic profile of, or every one
  with `reject_dynamic_updates`); it pulls the limit (PullDynamicScheduleUpdate) every `dynUpdateInterval`
  of simulated time, and whenever `pull_dynamic_update()` is called;
- ISO 15118-20: a bidirectional EV (`EVArrival(..., iso15118=True, bidirectional=True)`) tells its needs as
  `AC_BPT` with its V2X parameters (charge and discharge power, target energy and state of charge);
- priority charging: its own PriorityCharging profile (`priority_limit_a`, by default its maximum; None: it
  has none) is in force over the TxProfile while priority charging is on, switched by UsePriorityCharging
  (`Rejected` for a transaction not running here, `NoProfile` without the profile) or by its driver
  (`set_priority_charging()`, which tells the central system with NotifyPriorityCharging).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21

from simulators.chargepoint import PHYSICS_STEP_REAL_S, _Connector, _iso
from simulators.chargepoint201 import SimulatedChargePoint201, _Client201
from simulators.ev import Profile
from simulators.iso15118 import charging_needs_v2x, departure
from simulators.tariff21 import Period, cost_details, unsupported_condition

PRIORITY_PROFILE_ID = 2100  # + the EVSE id: the station's own PriorityCharging profile, while it is on


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

    @on("SetChargingProfile")
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any], **kw: Any) -> Any:
        answer = super().on_set_charging_profile(evse_id, charging_profile, **kw)
        if answer.status == "Accepted" and charging_profile.get("charging_profile_kind") == "Dynamic":
            self.sim.dynamic_updated_s[charging_profile["id"]] = self.sim.clock.elapsed_s()
        return answer

    @on("UpdateDynamicSchedule")
    def on_update_dynamic_schedule(self, charging_profile_id: int, schedule_update: dict[str, Any], **kw: Any) -> Any:
        if self.sim.reject_dynamic_updates:
            return result21.UpdateDynamicSchedule(status="Rejected", status_info={"reason_code": "NotNow"})
        update = snake_to_camel_case(schedule_update)
        if not self.sim.apply_dynamic_update(charging_profile_id, update):
            return result21.UpdateDynamicSchedule(status="Rejected", status_info={"reason_code": "UnknownProfile"})
        self.sim.dynamic_updates.append((charging_profile_id, update))
        return result21.UpdateDynamicSchedule(status="Accepted")

    @on("UsePriorityCharging")
    def on_use_priority_charging(self, transaction_id: str, activate: bool, **kw: Any) -> Any:
        connector = next((c for c in self.sim.connectors.values() if c.transaction_id == transaction_id), None)
        if connector is None:
            return result21.UsePriorityCharging(status="Rejected", status_info={"reason_code": "TxNotFound"})
        if not self.sim.switch_priority(connector, activate):
            return result21.UsePriorityCharging(status="NoProfile")
        return result21.UsePriorityCharging(status="Accepted")


class SimulatedChargePoint21(SimulatedChargePoint201):
    subprotocol = "ocpp2.1"

    def __init__(
        self,
        *args: Any,
        priority_limit_a: float | None = -1.0,
        reject_dynamic_updates: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # its own PriorityCharging profile's limit (A): by default its maximum; None: it has no such profile
        self.priority_limit_a = self.max_current_a if priority_limit_a == -1.0 else priority_limit_a
        self.reject_dynamic_updates = reject_dynamic_updates
        self.priority_charging: dict[int, bool] = {}  # EVSE id -> priority charging on
        self.dynamic_updates: list[tuple[int, dict[str, Any]]] = []  # (profile id, scheduleUpdate) taken, pulled too
        self.dynamic_updated_s: dict[int, float] = {}  # Dynamic profile id -> when its limit was last set (sim s)
        self.pull_answers: list[dict[str, Any]] = []  # PullDynamicScheduleUpdate answers, in order
        self.default_tariffs: dict[int, dict[str, Any]] = {}  # EVSE id (0: all) -> OCPP 2.1 TariffType
        self.transaction_tariffs: dict[str, dict[str, Any]] = {}  # transaction id -> its own tariff
        self.costs_shown: dict[str, float] = {}  # transaction id -> the last running or total cost told
        self.cost_reports: dict[str, dict[str, Any]] = {}  # transaction id -> the costDetails sent at its end
        # transaction id -> its periods so far: (start, the register then, the tariff in force then)
        self._periods: dict[str, list[tuple[datetime, float, dict[str, Any] | None]]] = {}

    def _make_client(self, ws: Any) -> Any:
        return _Client21(self, ws)

    # -- ISO 15118-20: a bidirectional EV tells its V2X needs ---------------------------------------------
    def _iso15118(self, name: str, connector: _Connector) -> list[Any]:
        ev = connector.ev
        if name != "EVChargingNeeds" or ev is None or not ev.bidirectional or connector.transaction_id is None:
            return super()._iso15118(name, connector)
        phases = connector.phases or self.phases
        leaves = departure(self.clock.start, ev.departs_at_s)
        return [charging_needs_v2x(ev, connector.id, phases, self.voltage_v, leaves)]

    async def _call(self, client: Any, message: Any) -> Any:
        answer = await super()._call(client, message)
        if isinstance(message, call21.NotifyEVChargingNeeds):
            self.iso15118_answers.append((message, answer))
        return answer

    async def run(self) -> None:
        """Run until cancelled: the 2.0.1 station's loops, and the pulls of its Dynamic profiles."""
        async with asyncio.TaskGroup() as group:
            group.create_task(super().run())
            group.create_task(self._pull_loop())

    # -- dynamic charging profiles -----------------------------------------------------------------------
    def dynamic_limit(self, connector_id: int = 1) -> float | None:
        """The limit of the connector's Dynamic profile, if it has one."""
        found = self.profiles.dynamic(connector_id)
        return found[0].periods[0][1] if found else None

    def apply_dynamic_update(self, profile_id: int, update: dict[str, Any]) -> bool:
        """A ChargingScheduleUpdateType (camelCase) for one of its Dynamic profiles; False: it has no such one."""
        if self.profiles.update_dynamic(profile_id, update) is None:
            return False
        self.dynamic_updated_s[profile_id] = self.clock.elapsed_s()
        return True

    async def pull_dynamic_update(self, connector_id: int = 1) -> dict[str, Any] | None:
        """PullDynamicScheduleUpdate for the connector's Dynamic profile; an Accepted update is applied.
        The answer (camelCase), or None when it has no Dynamic profile there or is offline."""
        found = self.profiles.dynamic(connector_id)
        if not found or not self.connected:
            return None
        profile_id = found[0].id
        self.dynamic_updated_s[profile_id] = self.clock.elapsed_s()  # asked now: the next pull an interval on
        answer = await self._send(call21.PullDynamicScheduleUpdate(charging_profile_id=profile_id))
        if answer is None:
            return None
        wire = {"status": answer.status}
        if answer.schedule_update is not None:
            wire["scheduleUpdate"] = snake_to_camel_case(answer.schedule_update)
        if answer.status_info is not None:
            wire["statusInfo"] = snake_to_camel_case(answer.status_info)
        self.pull_answers.append(wire)
        if answer.status == "Accepted" and "scheduleUpdate" in wire:
            self.profiles.update_dynamic(profile_id, wire["scheduleUpdate"])
            self.dynamic_updates.append((profile_id, wire["scheduleUpdate"]))
        return wire

    async def _pull_loop(self) -> None:
        """Each Dynamic profile with a dynUpdateInterval pulls its limit that long after it was last set."""
        while True:
            await asyncio.sleep(PHYSICS_STEP_REAL_S)
            now_s = self.clock.elapsed_s()
            for connector in self.connectors.values():
                for profile in self.profiles.dynamic(connector.id):
                    interval = profile.dyn_update_interval_s
                    last = self.dynamic_updated_s.get(profile.id, now_s)
                    if interval > 0 and now_s - last >= interval and self.connected:
                        await self.pull_dynamic_update(connector.id)

    # -- priority charging ------------------------------------------------------------------------------
    def switch_priority(self, connector: _Connector, on: bool) -> bool:
        """Priority charging on or off for the connector's transaction; False: it has no PriorityCharging profile."""
        if self.priority_limit_a is None:
            return False
        profile_id = PRIORITY_PROFILE_ID + connector.id
        self.profiles.clear(profile_id)
        if on:
            self.profiles.install(
                Profile(
                    id=profile_id,
                    stack_level=0,
                    purpose="PriorityCharging",
                    connector_id=connector.id,
                    unit="A",
                    periods=[(0.0, self.priority_limit_a, None)],
                    transaction_id=connector.transaction_id,
                )
            )
        self.priority_charging[connector.id] = on
        return True

    async def set_priority_charging(self, connector_id: int = 1, activated: bool = True) -> bool:
        """Its driver asks for priority charging (or ends it): switched here, told with NotifyPriorityCharging.
        False when there is no transaction on the connector or no PriorityCharging profile."""
        connector = self.connectors[connector_id]
        if connector.transaction_id is None or not self.switch_priority(connector, activated):
            return False
        message = call21.NotifyPriorityCharging(transaction_id=str(connector.transaction_id), activated=activated)
        return await self._send(message) is not None

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
