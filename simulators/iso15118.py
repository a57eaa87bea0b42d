"""What a simulated ISO 15118 EV tells its station, as OCPP 2.0.1 messages (pure: no I/O, time passed in).

The EV, once its transaction has started, sends its charging needs (K15: energy still wanted, its departure,
its current range; a bidirectional EV on a 2.1 station its ISO 15118-20 V2X parameters); on every TxProfile
the station accepts for it, it plans its charging schedule within the limit offered and reports it
(NotifyEVChargingSchedule).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpp.v21 import call as call21
from ocpp.v201 import call

from simulators.ev import EV, MIN_CURRENT_A

EV_MAX_VOLTAGE_V = 400
TRANSFER = {1: "AC_single_phase", 2: "AC_two_phase", 3: "AC_three_phase"}


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def charging_needs(
    ev: EV, evse_id: int, phases: int, voltage_v: float, departure: datetime
) -> call.NotifyEVChargingNeeds:
    """The EV's AC charging needs: the energy to its target, by its departure, within its current range."""
    most = max(1, int(ev.max_power_w / (phases * voltage_v)))
    return call.NotifyEVChargingNeeds(
        evse_id=evse_id,
        max_schedule_tuples=1,
        charging_needs={
            "requested_energy_transfer": TRANSFER[phases],
            "departure_time": _iso(departure),
            "ac_charging_parameters": {
                "energy_amount": round(ev.wanted_wh),
                "ev_min_current": int(MIN_CURRENT_A),
                "ev_max_current": most,
                "ev_max_voltage": EV_MAX_VOLTAGE_V,
            },
        },
    )


def charging_needs_v2x(
    ev: EV, evse_id: int, phases: int, voltage_v: float, departure: datetime
) -> call21.NotifyEVChargingNeeds:
    """A bidirectional EV's needs on OCPP 2.1 (ISO 15118-20): AC_BPT, its range as V2X charge power over the
    phases, what it could give back, and its target as energy and as state of charge."""
    most_w = float(round(min(ev.max_power_w, 16 * phases * voltage_v)))
    return call21.NotifyEVChargingNeeds(
        evse_id=evse_id,
        max_schedule_tuples=1,
        charging_needs={
            "requested_energy_transfer": "AC_BPT",
            "available_energy_transfer": [TRANSFER[phases], "AC_BPT"],
            "control_mode": "ScheduledControl",
            "mobility_needs_mode": "EVCC",
            "departure_time": _iso(departure),
            "v2x_charging_parameters": {
                "min_charge_power": float(round(MIN_CURRENT_A * phases * voltage_v)),
                "max_charge_power": most_w,
                "min_discharge_power": float(round(MIN_CURRENT_A * phases * voltage_v)),
                "max_discharge_power": most_w,
                "ev_target_energy_request": float(round(ev.wanted_wh)),
                "ev_min_energy_request": 0.0,
                "ev_max_energy_request": float(round((1.0 - ev.soc) * ev.battery_wh)),
                "target_soc": round(ev.target_soc * 100),
            },
        },
    )


def planned_current_a(offered_a: float, ev: EV, phases: int, voltage_v: float) -> float:
    """What the EV plans to draw under an offer: at most what it takes; nothing below its minimum."""
    if offered_a < MIN_CURRENT_A:
        return 0.0
    return round(min(offered_a, ev.max_current_a(phases, voltage_v)), 1)


def charging_schedule(
    ev: EV, evse_id: int, offered_a: float, phases: int, voltage_v: float, now: datetime, schedule_id: int
) -> call.NotifyEVChargingSchedule:
    """The EV's schedule within the offered limit, from now until its departure."""
    return call.NotifyEVChargingSchedule(
        time_base=_iso(now),
        evse_id=evse_id,
        charging_schedule={
            "id": schedule_id,
            "charging_rate_unit": "A",
            "charging_schedule_period": [
                {
                    "start_period": 0,
                    "limit": planned_current_a(offered_a, ev, phases, voltage_v),
                    "number_phases": phases,
                }
            ],
        },
    )


def departure(start: datetime, departs_at_s: float) -> datetime:
    """The EV's departure on the simulated clock (`departs_at_s` simulated seconds after its start)."""
    return start + timedelta(seconds=departs_at_s)
