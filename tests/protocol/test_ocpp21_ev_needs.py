"""OCPP 2.1 ISO 15118-20 charging needs as exact frames over a real loopback WebSocket: a bidirectional (AC_BPT)
EV's V2X parameters are taken, stored with the session and shown in REST; its charge power bounds the
scheduler's limit (the TxProfile, the published allocation) and the planner's session; its target energy is
the session's departure target. Its discharge parameters are shown only (CoopGrid does not discharge EVs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.fixtures.platform import make_settings, running_platform
from tests.protocol.test_ocpp201_iso15118 import TX, allocated, get, iso, rejected, started, station, tx_profile

DEPARTURE = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
V2X = {
    "minChargePower": 4830,  # 7 A on three phases
    "maxChargePower": 6900,  # 10 A on three phases
    "minDischargePower": 0,
    "maxDischargePower": 7000,
    "maxDischargeCurrent": 10,
    "evTargetEnergyRequest": 25_000,
    "evMinEnergyRequest": 5000,
    "evMaxEnergyRequest": 45_000,
    "targetSoC": 80,
}
OFFER = {
    "evPowerSchedule": {
        "timeAnchor": iso(DEPARTURE - timedelta(hours=2)),
        "evPowerScheduleEntries": [{"duration": 3600, "power": -5000}],
    }
}


def needs21(**v2x: Any) -> dict[str, Any]:
    return {
        "evseId": 1,
        "timestamp": iso(datetime.now(UTC)),
        "chargingNeeds": {
            "requestedEnergyTransfer": "AC_BPT",
            "availableEnergyTransfer": ["AC_three_phase", "AC_BPT"],
            "controlMode": "ScheduledControl",
            "mobilityNeedsMode": "EVCC",
            "departureTime": iso(DEPARTURE),
            "v2xChargingParameters": {**V2X, **v2x},
            "evEnergyOffer": OFFER,
        },
    }


async def test_v2x_needs_bound_the_scheduler_and_the_planner_and_are_shown(tmp_path: Path) -> None:
    # the minimum-power plan is a MIP: time enough for it on a loaded machine, so that it is not relaxed
    settings = make_settings(tmp_path, planner={"mip_time_limit_s": 30.0})
    async with running_platform(settings) as platform, station(platform, "CP-A", "ocpp2.1") as cp:
        assert (await cp.call("s", "TransactionEvent", started()))[2]["idTokenInfo"] == {"status": "Accepted"}
        assert (await cp.server_call("SetChargingProfile"))[3] == tx_profile(0.0)  # green, no sun

        assert await cp.call("n", "NotifyEVChargingNeeds", needs21()) == [3, "n", {"status": "Accepted"}]
        assert (await cp.server_call("SetChargingProfile"))[3] == tx_profile(0.0)  # the last limit, as its profile
        # 25 kWh in 3 h needs the grid: at the most the EV takes, 6900 W on three phases (10 A), not the 16 A
        assert (await cp.server_call("SetChargingProfile"))[3] == tx_profile(10.0)
        assert await allocated(platform, {"CP-A": 10.0}) == {"CP-A": 10.0}

        shown = await get(platform, f"/api/sessions/{TX}?chargepoint=CP-A")
        assert (shown["mode"], shown["target_wh"], shown["departure"]) == ("departure", 25_000.0, iso(DEPARTURE))
        ev = dict(shown["ev_needs"])
        assert ev.pop("reported_at") is not None
        assert ev == {
            "energy_transfer": "AC_BPT",
            "available_transfers": ["AC_three_phase", "AC_BPT"],
            "control_mode": "ScheduledControl",
            "mobility_needs_mode": "EVCC",
            "departure": iso(DEPARTURE),
            "energy_wh": 25_000.0,
            "session_energy_wh": 25_000.0,
            "phases": None,
            "min_charge_current_a": 0.0,
            "max_charge_current_a": None,
            "min_charge_power_w": 4830.0,
            "max_charge_power_w": 6900.0,
            "min_discharge_current_a": None,
            "max_discharge_current_a": 10.0,
            "min_discharge_power_w": 0.0,
            "max_discharge_power_w": 7000.0,
            "max_voltage_v": None,
            "soc": None,
            "target_soc": 80,
            "full_soc": None,
            "bulk_soc": None,
            "capacity_wh": None,
            "min_energy_wh": 5000.0,
            "max_energy_wh": 45_000.0,
            "energy_offer": [{"duration_s": 3600, "power_w": -5000.0}],
        }
        [listed] = await get(platform, "/api/sessions?active=true")
        assert listed["ev_needs"] == shown["ev_needs"]

        # the planner plans the session within the EV's charge power: at most 6900 W, at least 4830 W, per slot
        assert platform.replanner is not None
        plan = platform.replanner.plan_now()
        assert plan is not None
        assert platform.replanner.last_input is not None
        [planned] = platform.replanner.last_input.sessions
        assert (planned.max_power_w, planned.min_power_w, planned.energy_wh) == (6900.0, 4830.0, 25_000.0)
        # within the time it is plugged in, in each slot: the slot its driver leaves in is only partly its own
        assert planned.departure_s is not None
        for t, wh in enumerate(plan.sessions["CP-A/1"].energy_wh):
            start = t * plan.slot_s
            hours = max(0.0, min(start + plan.slot_s, planned.departure_s) - max(start, planned.arrival_s)) / 3600
            assert wh <= 6900.0 * hours + 1e-6
            assert wh < 1e-6 or wh >= 4830.0 * hours - 1e-6


async def test_v2x_needs_that_cannot_be_used_are_rejected_and_change_nothing(tmp_path: Path) -> None:
    async with running_platform(make_settings(tmp_path)) as platform, station(platform, "CP-A", "ocpp2.1") as cp:
        await cp.call("s", "TransactionEvent", started())
        refused = [
            (
                needs21(minChargePower=8000),
                rejected("InvalidValue", "charge power: the minimum 8000 W is above the maximum 6900 W"),
            ),
            (
                needs21(maxChargePower=None, minChargePower=None),
                rejected("MissingParam", "AC_BPT needs acChargingParameters or maxChargePower"),
            ),
        ]
        for n, (payload, answer) in enumerate(refused):
            payload["chargingNeeds"]["v2xChargingParameters"] = {
                k: v for k, v in payload["chargingNeeds"]["v2xChargingParameters"].items() if v is not None
            }
            assert await cp.call(f"r{n}", "NotifyEVChargingNeeds", payload) == [3, f"r{n}", answer]
        wireless = {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "WPT"}}
        assert (await cp.call("w", "NotifyEVChargingNeeds", wireless))[2]["statusInfo"]["reasonCode"] == (
            "UnsupportedParam"
        )
        [session] = await get(platform, "/api/sessions?active=true")
        assert (session["mode"], session["ev_needs"]) == ("green", None)
