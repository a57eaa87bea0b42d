"""OCPP 2.1 dynamic charging profiles: the scheduler's TxProfile installed once as a `Dynamic` profile, then
followed by UpdateDynamicSchedule at each change of its limit; the station's PullDynamicScheduleUpdate
answered with the limit in force. Protocol logic only: the calls go through the session's `call`, the
clock is passed in.

With `ocpp.dynamic_profiles` on, a limit for a 2.1 station's running transaction goes out as:
- the first one (or after a refusal, a new transaction, a change of unit or of phases): SetChargingProfile
  of a TxProfile of kind `Dynamic` bound to the transaction: one schedule with a single period holding the
  limit, `dynUpdateTime` (when CoopGrid set it), `dynUpdateInterval` (how often the station may pull; none
  when 0). Its id is `DYNAMIC_PROFILE_ID + evseId`: UpdateDynamicSchedule and PullDynamicScheduleUpdate
  name a profile by id alone, so each EVSE's is its own;
- each later one: UpdateDynamicSchedule `{chargingProfileId, scheduleUpdate: {limit}}`. A `Rejected` one
  (or a CallError) falls back to SetChargingProfile of the Dynamic profile with the new limit; a station that
  refuses that too gets the static TxProfile (kind Relative, under the same id, so that it replaces whatever
  is there) and no Dynamic profile again until it boots.

What each EVSE was given lives in memory, per (charger, profile id), in the instance holding the connection,
and goes when its transaction ends.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from chargepoints.errors import CallFailed
from chargepoints.profiles import Unit, tx_profile_201

log = logging.getLogger(__name__)

DYNAMIC_PROFILE_ID = 1000  # + the EVSE id: the id of the Dynamic TxProfile of that EVSE

Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Record = Callable[[str, str, dict[str, Any]], Awaitable[None]]


def dynamic_profile_id(evse_id: int) -> int:
    """The id of an EVSE's Dynamic TxProfile."""
    return DYNAMIC_PROFILE_ID + evse_id


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _limit(limit: float) -> float:
    return round(float(limit), 1)


def dynamic_tx_profile(
    evse_id: int,
    limit: float,
    transaction_id: str,
    phases: int | None,
    *,
    unit: Unit,
    update_interval_s: int,
    now: datetime,
) -> dict[str, Any]:
    """A 2.1 SetChargingProfileRequest: the transaction's TxProfile as a Dynamic profile of one period."""
    payload = tx_profile_201(evse_id, limit, transaction_id, phases, unit=unit)
    profile = payload["chargingProfile"]
    profile["id"] = dynamic_profile_id(evse_id)
    profile["chargingProfileKind"] = "Dynamic"
    profile["dynUpdateTime"] = _iso(now)
    if update_interval_s > 0:
        profile["dynUpdateInterval"] = update_interval_s
    return payload


def static_tx_profile(
    evse_id: int, limit: float, transaction_id: str, phases: int | None, *, unit: Unit
) -> dict[str, Any]:
    """The plain TxProfile (Relative) under the Dynamic profile's id: what a station refusing Dynamic gets."""
    payload = tx_profile_201(evse_id, limit, transaction_id, phases, unit=unit)
    payload["chargingProfile"]["id"] = dynamic_profile_id(evse_id)
    return payload


def update_dynamic_schedule(profile_id: int, limit: float) -> dict[str, Any]:
    """UpdateDynamicScheduleRequest: a Dynamic profile's limit from now on."""
    return {"chargingProfileId": profile_id, "scheduleUpdate": {"limit": _limit(limit)}}


def unknown_profile(profile_id: int) -> dict[str, Any]:
    """PullDynamicScheduleUpdateResponse for a profile CoopGrid did not install (or whose transaction ended)."""
    why = f"no dynamic charging profile {profile_id} of a running transaction"
    return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownProfile", "additionalInfo": why}}


@dataclass(frozen=True, slots=True)
class DynamicProfile:
    """A Dynamic TxProfile a station took, and the limit it holds now."""

    charge_point_id: str
    evse_id: int
    profile_id: int
    transaction_id: int  # ours
    unit: Unit
    phases: int | None
    limit: float
    updated_at: datetime


class DynamicSchedules:
    """The Dynamic profiles of the 2.1 stations (one per central system; inert unless enabled)."""

    def __init__(self, *, enabled: bool, update_interval_s: int, clock: Callable[[], datetime], record: Record) -> None:
        self.enabled = enabled
        self.update_interval_s = update_interval_s
        self._clock = clock
        self._record = record
        self._installed: dict[tuple[str, int], DynamicProfile] = {}
        self._static: set[str] = set()  # stations that refused a Dynamic profile: static ones until they boot
        self.installs = 0  # Dynamic profiles taken
        self.updates = 0  # UpdateDynamicSchedule taken
        self.fallbacks = 0  # UpdateDynamicSchedule refused: SetChargingProfile instead
        self.pulls = 0  # PullDynamicScheduleUpdate answered Accepted

    def installed(self, charge_point_id: str, profile_id: int) -> DynamicProfile | None:
        return self._installed.get((charge_point_id, profile_id))

    def profiles(self, charge_point_id: str) -> list[DynamicProfile]:
        """The station's Dynamic profiles in force, by EVSE."""
        found = [p for (cp, _), p in self._installed.items() if cp == charge_point_id]
        return sorted(found, key=lambda p: p.evse_id)

    async def send_limit(
        self,
        call: Call,
        charge_point_id: str,
        evse_id: int,
        limit: float,
        transaction_id: int,
        ocpp_transaction_id: str,
        phases: int | None,
        unit: Unit,
    ) -> str:
        """A limit for a running transaction of a 2.1 station; returns the status it was answered.

        The new limit counts from the moment it is sent (a station may pull it before CoopGrid has read its
        answer); it gives way to the one before when it is not taken."""
        profile_id = dynamic_profile_id(evse_id)
        key = (charge_point_id, profile_id)
        known = self._installed.get(key)
        now = self._clock()
        if known is not None and (known.transaction_id, known.unit, known.phases) == (transaction_id, unit, phases):
            self._installed[key] = replace(known, limit=_limit(limit), updated_at=now)
            try:
                answer = await call("UpdateDynamicSchedule", update_dynamic_schedule(profile_id, limit))
            except CallFailed as exc:  # a CallError (NotSupported, ...): refused as well
                answer = {"status": exc.code}
            except BaseException:
                self._installed[key] = known
                raise
            status = str(answer.get("status", "Unknown"))
            if status == "Accepted":
                self.updates += 1
                return status
            self.fallbacks += 1
            self._installed.pop(key, None)
            log.info(
                "%s refused UpdateDynamicSchedule of profile %d (%s): sent again", charge_point_id, profile_id, status
            )
            event = {"charging_profile_id": profile_id, "limit": _limit(limit), **answer, "then": "SetChargingProfile"}
            await self._record(charge_point_id, "UpdateDynamicSchedule", event)
        if charge_point_id in self._static:
            self._installed.pop(key, None)
            return await self._send_static(call, charge_point_id, evse_id, limit, ocpp_transaction_id, phases, unit)
        payload = dynamic_tx_profile(
            evse_id, limit, ocpp_transaction_id, phases, unit=unit, update_interval_s=self.update_interval_s, now=now
        )
        self._installed[key] = DynamicProfile(
            charge_point_id, evse_id, profile_id, transaction_id, unit, phases, _limit(limit), now
        )
        try:
            answer = await call("SetChargingProfile", payload)
        except BaseException:
            self._installed.pop(key, None)
            raise
        status = str(answer.get("status", "Unknown"))
        if status == "Accepted":
            self.installs += 1
            return status
        self._installed.pop(key, None)
        self._static.add(charge_point_id)
        log.warning(
            "%s refused a Dynamic charging profile (%s): static TxProfiles until it boots", charge_point_id, status
        )
        await self._record(charge_point_id, "DynamicProfileRefused", {"charging_profile_id": profile_id, **answer})
        return await self._send_static(call, charge_point_id, evse_id, limit, ocpp_transaction_id, phases, unit)

    @staticmethod
    async def _send_static(
        call: Call, charge_point_id: str, evse_id: int, limit: float, ocpp_id: str, phases: int | None, unit: Unit
    ) -> str:
        answer = await call("SetChargingProfile", static_tx_profile(evse_id, limit, ocpp_id, phases, unit=unit))
        return str(answer.get("status", "Unknown"))

    def pull(self, charge_point_id: str, profile_id: int) -> dict[str, Any]:
        """PullDynamicScheduleUpdate: the limit in force of a Dynamic profile CoopGrid installed, else Rejected."""
        known = self._installed.get((charge_point_id, profile_id))
        if known is None:
            return unknown_profile(profile_id)
        self.pulls += 1
        return {"status": "Accepted", "scheduleUpdate": {"limit": known.limit}}

    def booted(self, charge_point_id: str) -> None:
        """The station booted: it may take Dynamic profiles now (a new firmware, a new configuration)."""
        self._static.discard(charge_point_id)

    def ended(self, charge_point_id: str, transaction_id: int) -> None:
        """The transaction ended: the station dropped its TxProfiles, CoopGrid forgets them."""
        for key, profile in list(self._installed.items()):
            if key[0] == charge_point_id and profile.transaction_id == transaction_id:
                del self._installed[key]
