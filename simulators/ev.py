"""The EV and the charge point's view of charging profiles (pure: no I/O, time passed in)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MIN_CURRENT_A = 6.0  # IEC 61851: below this, pause


@dataclass(frozen=True, slots=True)
class EVArrival:
    """An EV that plugs in `arrive_after_s` simulated seconds after the start."""

    arrive_after_s: float
    battery_wh: float = 60_000.0
    soc: float = 0.3
    target_soc: float = 0.9
    max_power_w: float = 11_000.0
    stay_s: float = 4 * 3600.0
    iso15118: bool = False  # speaks ISO 15118 (2.0.1 stations): tells its charging needs, reports its schedule
    # ISO 15118-20 bidirectional (with iso15118, on a 2.1 station): tells its needs as AC_BPT with its V2X
    # parameters (charge and discharge power, target energy and state of charge)
    bidirectional: bool = False
    # Plug & Charge: its contract certificate chain as OCPP OCSPRequestData (hashAlgorithm, issuerNameHash,
    # issuerKeyHash, serialNumber, responderURL), sent with Authorize; the station's id tag is then its eMAID
    contract: tuple[dict[str, str], ...] = ()


@dataclass(slots=True)
class EV:
    battery_wh: float
    soc: float
    target_soc: float
    max_power_w: float
    departs_at_s: float
    iso15118: bool = False
    contract: tuple[dict[str, str], ...] = ()
    bidirectional: bool = False

    @classmethod
    def arriving(cls, arrival: EVArrival) -> EV:
        return cls(
            arrival.battery_wh,
            arrival.soc,
            arrival.target_soc,
            arrival.max_power_w,
            arrival.arrive_after_s + arrival.stay_s,
            arrival.iso15118,
            arrival.contract,
            arrival.bidirectional,
        )

    @property
    def full(self) -> bool:
        return self.soc >= self.target_soc - 1e-6

    def max_current_a(self, phases: int, voltage_v: float) -> float:
        """What the EV accepts now: its maximum, tapering linearly above 80 % state of charge."""
        current = self.max_power_w / (phases * voltage_v)
        if self.soc > 0.8:
            current *= max(0.1, 1.0 - (self.soc - 0.8) / 0.2 * 0.9)
        return 0.0 if self.full else current

    @property
    def wanted_wh(self) -> float:
        """The energy still wanted to reach the target state of charge."""
        return max(0.0, (self.target_soc - self.soc) * self.battery_wh)

    def charge(self, energy_wh: float) -> None:
        self.soc = min(1.0, self.soc + energy_wh / self.battery_wh)


@dataclass(slots=True)
class Profile:
    """A charging profile as the charge point stores it (OCPP 1.6 shape, 2.0.1 mapped onto it)."""

    id: int
    stack_level: int
    purpose: str  # ChargePointMaxProfile | TxDefaultProfile | TxProfile | PriorityCharging (2.1)
    connector_id: int
    unit: str  # A | W
    periods: list[tuple[float, float, int | None]]  # (start s, limit, phases)
    transaction_id: Any = None
    kind: str = "Relative"  # Absolute | Recurring | Relative | Dynamic (2.1: one period, updated in place)
    start_schedule: datetime | None = None
    dyn_update_interval_s: int = 0  # Dynamic: pull an update (PullDynamicScheduleUpdate) this often; 0: never

    @classmethod
    def from_16(cls, connector_id: int, payload: dict[str, Any]) -> Profile:
        return cls._build(connector_id, payload, payload["chargingProfileId"], payload["chargingSchedule"])

    @classmethod
    def from_201(cls, evse_id: int, payload: dict[str, Any]) -> Profile:
        return cls._build(evse_id, payload, payload["id"], payload["chargingSchedule"][0])

    @classmethod
    def _build(cls, connector_id: int, payload: dict[str, Any], profile_id: int, schedule: dict[str, Any]) -> Profile:
        start = schedule.get("startSchedule")
        return cls(
            id=profile_id,
            stack_level=payload["stackLevel"],
            purpose=payload["chargingProfilePurpose"],
            connector_id=connector_id,
            unit=schedule["chargingRateUnit"],
            periods=[
                (float(p["startPeriod"]), float(p["limit"]), p.get("numberPhases"))
                for p in schedule["chargingSchedulePeriod"]
            ],
            transaction_id=payload.get("transactionId"),
            kind=payload.get("chargingProfileKind", "Relative"),
            start_schedule=datetime.fromisoformat(start.replace("Z", "+00:00")) if start else None,
            dyn_update_interval_s=int(payload.get("dynUpdateInterval") or 0),
        )

    def limit_a(self, elapsed_s: float, now: datetime, phases: int, voltage_v: float) -> float | None:
        """This profile's limit in amperes at a moment, or None when its schedule has not begun."""
        current = self.period(elapsed_s, now)
        if current is None:
            return None
        limit, period_phases = current
        if self.unit == "W":
            return limit / ((period_phases or phases) * voltage_v)
        return limit

    def period(self, elapsed_s: float, now: datetime) -> tuple[float, int | None] | None:
        """The (limit, numberPhases) of the schedule period in force, or None before the schedule begins."""
        if self.kind == "Dynamic":  # its one period holds from the moment it is installed or updated
            _, limit, period_phases = self.periods[0]
            return limit, period_phases
        offset = elapsed_s
        if self.kind == "Absolute" and self.start_schedule is not None:
            offset = (now - self.start_schedule).total_seconds()
        current = None
        for start, limit, period_phases in sorted(self.periods):
            if start <= offset:
                current = (limit, period_phases)
        return current


@dataclass(slots=True)
class ProfileStore:
    """Installed profiles; a TxProfile wins over a TxDefaultProfile; highest stack level wins within."""

    profiles: list[Profile] = field(default_factory=list)

    def install(self, profile: Profile) -> None:
        self.profiles = [
            p
            for p in self.profiles
            if p.id != profile.id
            and not (
                p.stack_level == profile.stack_level
                and p.purpose == profile.purpose
                and p.connector_id == profile.connector_id
            )
        ]
        self.profiles.append(profile)

    def clear(self, profile_id: int | None = None, connector_id: int | None = None, purpose: str | None = None) -> int:
        before = len(self.profiles)
        self.profiles = [
            p
            for p in self.profiles
            if not (
                (profile_id is None or p.id == profile_id)
                and (connector_id is None or p.connector_id == connector_id)
                and (purpose is None or p.purpose == purpose)
            )
        ]
        return before - len(self.profiles)

    def drop_transaction(self, transaction_id: Any) -> None:
        self.profiles = [
            p
            for p in self.profiles
            if not (p.purpose in ("TxProfile", "PriorityCharging") and p.transaction_id == transaction_id)
        ]

    def dynamic(self, connector_id: int | None = None) -> list[Profile]:
        """The Dynamic profiles installed (on one connector, or all)."""
        return [
            p for p in self.profiles if p.kind == "Dynamic" and (connector_id is None or p.connector_id == connector_id)
        ]

    def update_dynamic(self, profile_id: int, update: dict[str, Any]) -> Profile | None:
        """An OCPP 2.1 ChargingScheduleUpdateType (camelCase) applied to the Dynamic profile `profile_id`: its
        period's limit is the update's `limit` (when it has one; setpoints are not modelled); None when there is
        no Dynamic profile of that id."""
        found = next((p for p in self.profiles if p.id == profile_id and p.kind == "Dynamic"), None)
        if found is None:
            return None
        limit = update.get("limit")
        if isinstance(limit, int | float) and not isinstance(limit, bool):
            start, _, period_phases = found.periods[0]
            found.periods = [(start, float(limit), period_phases)]
        return found

    def offer(
        self,
        connector_id: int,
        transaction_id: Any,
        elapsed_s: float,
        now: datetime,
        phases: int,
        voltage_v: float,
        max_current_a: float,
    ) -> tuple[float, int]:
        """The offered current and the number of phases to use (numberPhases of the profile in force)."""
        offered = max_current_a
        use_phases = phases

        def best(candidates: list[Profile]) -> float | None:
            nonlocal use_phases
            for profile in sorted(candidates, key=lambda p: -p.stack_level):
                limit = profile.limit_a(elapsed_s, now, phases, voltage_v)
                if limit is not None:
                    period = profile.period(elapsed_s, now)
                    if period is not None and period[1]:
                        use_phases = min(phases, int(period[1]))
                    return limit
            return None

        priority = [  # OCPP 2.1 priority charging: in force over the TxProfile while it is on
            p
            for p in self.profiles
            if p.purpose == "PriorityCharging" and p.connector_id == connector_id and p.transaction_id == transaction_id
        ]
        tx = [
            p
            for p in self.profiles
            if p.purpose == "TxProfile"
            and p.connector_id == connector_id
            and (p.transaction_id is None or p.transaction_id == transaction_id)
        ]
        default = [p for p in self.profiles if p.purpose == "TxDefaultProfile" and p.connector_id in (0, connector_id)]
        station = [p for p in self.profiles if p.purpose == "ChargePointMaxProfile"]
        chosen = None
        if transaction_id is not None:
            chosen = best(priority)
            if chosen is None:
                chosen = best(tx)
        if chosen is None:
            chosen = best([p for p in default if p.connector_id == connector_id])  # a limit of 0 A counts
            if chosen is None:
                chosen = best([p for p in default if p.connector_id == 0])
        if chosen is not None:
            offered = min(offered, chosen)
        chosen_phases = use_phases
        station_limit = best(station)
        if station_limit is not None:
            offered = min(offered, station_limit)
        return max(0.0, offered), chosen_phases


def drawn_current_a(offered_a: float, ev: EV | None, phases: int, voltage_v: float) -> float:
    """What the EV draws: min(offered, what it accepts); below the 6 A minimum it pauses."""
    if ev is None or offered_a < MIN_CURRENT_A:
        return 0.0
    return min(offered_a, ev.max_current_a(phases, voltage_v))
