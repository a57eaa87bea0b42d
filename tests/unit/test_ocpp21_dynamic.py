"""OCPP 2.1 dynamic charging profiles and priority charging, pure: what CoopGrid sends and answers fits the 2.1
schemas (hypothesis), the Dynamic profiles it keeps follow what the station took through any run of taken and
refused calls, and the simulated station's profile store applies schedule updates and priority charging."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chargepoints.dynamic_schedules import (
    DynamicSchedules,
    dynamic_profile_id,
    dynamic_tx_profile,
    static_tx_profile,
    unknown_profile,
    update_dynamic_schedule,
)
from chargepoints.errors import CallFailed
from chargepoints.validation import validator
from simulators.ev import Profile, ProfileStore

T = datetime(2026, 3, 1, 12, tzinfo=UTC)
limits = st.floats(0.0, 1e6, allow_nan=False)
phases = st.sampled_from([None, 1, 2, 3])
units = st.sampled_from(["A", "W"])
transaction_ids = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=36)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 1000),
    limits,
    transaction_ids,
    phases,
    units,
    st.integers(0, 2**31 - 1),
    st.datetimes(timezones=st.just(UTC)),
)
def test_every_dynamic_profile_fits_the_21_schema(
    evse_id: int, limit: float, transaction_id: str, wired: int | None, unit: Any, interval: int, now: datetime
) -> None:
    payload = dynamic_tx_profile(evse_id, limit, transaction_id, wired, unit=unit, update_interval_s=interval, now=now)
    validator("2.1", "SetChargingProfile")(payload)
    profile = payload["chargingProfile"]
    assert (profile["id"], profile["chargingProfileKind"], profile["chargingProfilePurpose"]) == (
        dynamic_profile_id(evse_id),
        "Dynamic",
        "TxProfile",
    )
    (schedule,) = profile["chargingSchedule"]
    (period,) = schedule["chargingSchedulePeriod"]  # a Dynamic profile has one period, updated in place
    assert period["limit"] == round(limit, 1)
    assert ("dynUpdateInterval" in profile) == (interval > 0)
    assert datetime.fromisoformat(profile["dynUpdateTime"].replace("Z", "+00:00")) == now
    static = static_tx_profile(evse_id, limit, transaction_id, wired, unit=unit)
    validator("2.1", "SetChargingProfile")(static)
    assert static["chargingProfile"]["id"] == profile["id"]  # it replaces the Dynamic one
    assert static["chargingProfile"]["chargingProfileKind"] == "Relative"


@settings(max_examples=200, deadline=None)
@given(st.integers(-(2**31), 2**31 - 1), limits)
def test_every_update_and_pull_answer_fits_the_21_schema(profile_id: int, limit: float) -> None:
    update = update_dynamic_schedule(profile_id, limit)
    validator("2.1", "UpdateDynamicSchedule")(update)
    assert update == {"chargingProfileId": profile_id, "scheduleUpdate": {"limit": round(limit, 1)}}
    validator("2.1", "PullDynamicScheduleUpdate", response=True)(unknown_profile(profile_id))
    validator("2.1", "PullDynamicScheduleUpdate", response=True)(
        {"status": "Accepted", "scheduleUpdate": {"limit": round(limit, 1)}}
    )


class Station:
    """What a 2.1 station keeps of CoopGrid's calls: its profiles by id (kind, limit), answering as told."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers  # per call, in order: "Accepted", "Rejected" or "CallError"; then Accepted
        self.profiles: dict[int, tuple[str, float]] = {}
        self.calls: list[str] = []

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(action)
        answer = self.answers.pop(0) if self.answers else "Accepted"
        if answer == "CallError":
            raise CallFailed("NotSupported", f"{action} is not supported")
        if answer != "Accepted":
            return {"status": answer}
        if action == "SetChargingProfile":
            profile = payload["chargingProfile"]
            limit = profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]
            self.profiles[profile["id"]] = (profile["chargingProfileKind"], limit)
        else:
            kind, _ = self.profiles[payload["chargingProfileId"]]
            assert kind == "Dynamic"  # CoopGrid updates only a Dynamic profile the station took
            self.profiles[payload["chargingProfileId"]] = (kind, payload["scheduleUpdate"]["limit"])
        return {"status": "Accepted"}


def schedules() -> tuple[DynamicSchedules, list[tuple[str, str, dict[str, Any]]]]:
    recorded: list[tuple[str, str, dict[str, Any]]] = []

    async def record(charge_point_id: str, kind: str, payload: dict[str, Any]) -> None:
        recorded.append((charge_point_id, kind, payload))

    return DynamicSchedules(enabled=True, update_interval_s=60, clock=lambda: T, record=record), recorded


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.0, 32.0), st.sampled_from([None, 1, 3])), min_size=1, max_size=12),
    st.lists(st.sampled_from(["Accepted", "Accepted", "Rejected", "CallError"]), max_size=20),
)
def test_the_dynamic_profiles_kept_follow_what_the_station_took(
    sends: list[tuple[float, int | None]], answers: list[str]
) -> None:
    async def run() -> None:
        dynamic, _ = schedules()
        station = Station(list(answers))
        refused_dynamic = False
        for limit, wired in sends:
            before = len(station.calls)
            try:
                status = await dynamic.send_limit(station.call, "CP", 1, limit, 7, "tx-7", wired, "A")
            except CallFailed:  # a CallError to SetChargingProfile: the scheduler's to retry
                assert station.calls[-1] == "SetChargingProfile"
                assert dynamic.installed("CP", 1001) is None
                continue
            made = station.calls[before:]
            if made[0] == "UpdateDynamicSchedule" and len(made) > 1:
                assert made[1] == "SetChargingProfile"  # a refused update: sent again as a profile
            if refused_dynamic:
                assert made == ["SetChargingProfile"]  # static until the station boots
                if status == "Accepted":
                    assert station.profiles[1001][0] == "Relative"
            kept = dynamic.installed("CP", 1001)
            if kept is not None:  # what CoopGrid keeps is what the station holds
                assert station.profiles[1001] == ("Dynamic", kept.limit)
                assert dynamic.pull("CP", 1001) == {"status": "Accepted", "scheduleUpdate": {"limit": kept.limit}}
                assert status == "Accepted"
                assert kept.limit == round(limit, 1)
            else:
                assert dynamic.pull("CP", 1001)["status"] == "Rejected"
            if status == "Accepted":
                assert station.profiles[1001][1] == round(limit, 1)
            refused_dynamic = refused_dynamic or "CP" in dynamic._static  # noqa: SLF001

    asyncio.run(run())


async def test_a_refused_update_is_sent_again_as_a_profile_and_kept_as_an_event() -> None:
    dynamic, recorded = schedules()
    station = Station(["Accepted", "Rejected"])
    assert await dynamic.send_limit(station.call, "CP", 2, 10.0, 7, "tx-7", None, "A") == "Accepted"
    assert await dynamic.send_limit(station.call, "CP", 2, 8.0, 7, "tx-7", None, "A") == "Accepted"
    assert station.calls == ["SetChargingProfile", "UpdateDynamicSchedule", "SetChargingProfile"]
    assert station.profiles == {1002: ("Dynamic", 8.0)}
    assert (dynamic.installs, dynamic.updates, dynamic.fallbacks) == (2, 0, 1)
    assert recorded == [
        (
            "CP",
            "UpdateDynamicSchedule",
            {"charging_profile_id": 1002, "limit": 8.0, "status": "Rejected", "then": "SetChargingProfile"},
        )
    ]
    # a new transaction, a change of phases or of unit: a new profile, not an update
    assert await dynamic.send_limit(station.call, "CP", 2, 8.0, 8, "tx-8", None, "A") == "Accepted"
    assert await dynamic.send_limit(station.call, "CP", 2, 8.0, 8, "tx-8", 1, "A") == "Accepted"
    assert await dynamic.send_limit(station.call, "CP", 2, 5000.0, 8, "tx-8", 1, "W") == "Accepted"
    assert station.calls[3:] == ["SetChargingProfile"] * 3
    assert await dynamic.send_limit(station.call, "CP", 2, 4000.0, 8, "tx-8", 1, "W") == "Accepted"
    assert station.calls[-1] == "UpdateDynamicSchedule"
    # its transaction ends: forgotten, pulls Rejected
    dynamic.ended("CP", 8)
    assert dynamic.pull("CP", 1002) == unknown_profile(1002)


async def test_a_station_refusing_dynamic_profiles_gets_static_ones_until_it_boots() -> None:
    dynamic, recorded = schedules()
    station = Station(["Rejected"])
    assert await dynamic.send_limit(station.call, "CP", 1, 10.0, 7, "tx-7", None, "A") == "Accepted"
    assert station.profiles == {1001: ("Relative", 10.0)}
    assert [kind for _, kind, _ in recorded] == ["DynamicProfileRefused"]
    assert await dynamic.send_limit(station.call, "CP", 1, 8.0, 7, "tx-7", None, "A") == "Accepted"
    assert station.calls == ["SetChargingProfile"] * 3
    assert dynamic.pull("CP", 1001)["status"] == "Rejected"
    dynamic.booted("CP")
    assert await dynamic.send_limit(station.call, "CP", 1, 6.0, 7, "tx-7", None, "A") == "Accepted"
    assert station.profiles == {1001: ("Dynamic", 6.0)}


async def test_a_limit_counts_from_the_moment_it_is_sent() -> None:
    """A station may pull right after taking a profile or an update, before CoopGrid has read its answer."""
    dynamic, _ = schedules()
    seen: list[dict[str, Any]] = []

    async def pulling(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        seen.append(dynamic.pull("CP", 1001))
        return {"status": "Accepted"}

    await dynamic.send_limit(pulling, "CP", 1, 10.0, 7, "tx-7", None, "A")
    await dynamic.send_limit(pulling, "CP", 1, 12.0, 7, "tx-7", None, "A")
    assert [s["scheduleUpdate"]["limit"] for s in seen] == [10.0, 12.0]

    async def silent(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        raise TimeoutError

    with pytest.raises(TimeoutError):  # no answer: the limit before is what the station holds
        await dynamic.send_limit(silent, "CP", 1, 14.0, 7, "tx-7", None, "A")
    assert dynamic.pull("CP", 1001)["scheduleUpdate"] == {"limit": 12.0}


async def test_disabled_schedules_are_inert() -> None:
    dynamic = DynamicSchedules(enabled=False, update_interval_s=0, clock=lambda: T, record=lambda *a: asyncio.sleep(0))
    assert not dynamic.enabled
    assert dynamic.pull("CP", 1001)["status"] == "Rejected"


# -- the simulated station's side --------------------------------------------------------------------------
def _dynamic(limit: float, transaction_id: str = "tx-1") -> Profile:
    payload = dynamic_tx_profile(1, limit, transaction_id, None, unit="A", update_interval_s=60, now=T)
    return Profile.from_201(1, payload["chargingProfile"])


update_fields = st.fixed_dictionaries(
    {},
    optional={
        "limit": st.floats(0.0, 64.0),
        "limit_L2": st.floats(0.0, 64.0),
        "dischargeLimit": st.floats(-64.0, 0.0),
        "setpoint": st.floats(-64.0, 64.0),
    },
)


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 64.0), update_fields)
def test_the_simulated_station_applies_any_schedule_update(first: float, update: dict[str, Any]) -> None:
    validator("2.1", "UpdateDynamicSchedule")({"chargingProfileId": 1001, "scheduleUpdate": update})
    store = ProfileStore()
    store.install(_dynamic(first))
    assert store.update_dynamic(7, update) is None  # no Dynamic profile of that id
    found = store.update_dynamic(1001, update)
    assert found is not None
    expected = update.get("limit", round(first, 1))
    assert found.periods == [(0.0, expected, None)]
    offered, _ = store.offer(1, "tx-1", -5.0, T, 3, 230.0, 32.0)  # in force at once, even before its start
    assert offered == pytest.approx(min(expected, 32.0))


def test_priority_charging_is_in_force_over_the_tx_profile_while_on() -> None:
    store = ProfileStore()
    store.install(_dynamic(0.0))
    priority = Profile(2101, 0, "PriorityCharging", 1, "A", [(0.0, 16.0, None)], transaction_id="tx-1")
    store.install(priority)
    assert store.offer(1, "tx-1", 10.0, T + timedelta(seconds=10), 3, 230.0, 32.0)[0] == 16.0
    assert store.offer(1, "tx-2", 10.0, T, 3, 230.0, 32.0)[0] == 32.0  # another transaction's: not in force
    store.clear(2101)
    assert store.offer(1, "tx-1", 10.0, T, 3, 230.0, 32.0)[0] == 0.0
    store.install(priority)
    store.drop_transaction("tx-1")  # the transaction ends: both go
    assert store.profiles == []
