"""ISO 15118 smart charging end to end: the simulated 2.0.1 station and its ISO 15118 EV against a running CoopGrid.

The EV tells its charging needs once its transaction runs; CoopGrid makes them the session's departure
target (shown in REST, with the EV's range) and the EV's range the session's own ceiling in the scheduler (every
limit it allocates stays within what the EV said), and sends a TxProfile within it; the EV follows it and reports its
schedule, which CoopGrid accepts; when the scheduler's limit changes (a lower site limit), the new profile
goes out, the EV renegotiates and draws the new limit. With Plug & Charge, the EV's contract (its hash
data in Authorize) is checked by OCSP with the loopback test double before its transaction starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509

from chargepoints.contracts import issuer_hashes
from simulators.ev import EVArrival
from simulators.pytest_plugin import RunningFleet
from tests.fixtures.certs import Pki
from tests.fixtures.ocsp import ocsp_responder
from tests.fixtures.platform import make_settings, running_platform

pytestmark = pytest.mark.integration

Fleet = Callable[..., AbstractAsyncContextManager[RunningFleet]]
ISO_EV = EVArrival(0.0, battery_wh=60_000.0, soc=0.2, target_soc=0.9, max_power_w=11_000.0, stay_s=3 * 3600.0,
                   iso15118=True)  # fmt: skip


@asynccontextmanager
async def watched_limits(http: aiohttp.ClientSession, url: str, charger: str) -> AsyncIterator[list[float]]:
    """Every limit the scheduler allocates `charger` (its site's published allocation, read every 0.1 s)."""
    seen: list[float] = []

    async def watch() -> None:
        while True:
            async with http.get(f"{url}/api/sites/site-a/allocation") as response:
                if response.status == 200:
                    body = await response.json()
                    seen.extend(p["limit_a"] for p in body["setpoints"] if p["charge_point_id"] == charger)
            await asyncio.sleep(0.1)

    task = asyncio.create_task(watch())
    try:
        yield seen
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def statuses(station: Any, action: str) -> list[str]:
    return [answer.status for message, answer in station.iso15118_answers if type(message).__name__ == action]


def scheduled(station: Any, limit_a: float) -> list[str]:
    """The answers to the EV's schedules of `limit_a`."""
    return [
        answer.status
        for message, answer in station.iso15118_answers
        if type(message).__name__ == "NotifyEVChargingSchedule"
        and message.charging_schedule["charging_schedule_period"][0]["limit"] == limit_a
    ]


@asynccontextmanager
async def needs_told(
    tmp_path: Path, charger_fleet: Fleet, start: datetime, protocol: str, ev: EVArrival
) -> AsyncIterator[tuple[Any, aiohttp.ClientSession, RunningFleet, dict[str, Any]]]:
    """CoopGrid and one simulated station whose ISO 15118 EV has told its needs: the running session as shown."""
    settings = make_settings(tmp_path, chargers=[{"id": "SIM-1", "site_id": "site-a"}], id_tags=[{"id": "DEMO-TAG"}])
    async with (
        running_platform(settings) as platform,
        aiohttp.ClientSession() as http,
        charger_fleet(platform.ocpp_url, 1, speed=60, start=start, protocol=protocol, plan=lambda _: [ev]) as fleet,
    ):
        station = fleet.chargers[0]
        await fleet.wait_for(lambda: bool(statuses(station, "NotifyEVChargingNeeds")), 20, "the EV's charging needs")
        assert statuses(station, "NotifyEVChargingNeeds")[0] in ("Accepted", "Processing")
        async with http.get(f"{platform.http_url}/api/sessions?active=true") as response:
            [session] = await response.json()
        yield platform, http, fleet, session


async def test_the_ev_needs_reach_the_scheduler_and_the_ev_follows_each_profile(
    tmp_path: Path, charger_fleet: Fleet
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    async with needs_told(tmp_path, charger_fleet, start, "2.0.1", ISO_EV) as (platform, http, fleet, session):
        station = fleet.chargers[0]
        assert session["mode"] == "departure"
        # 70 % of 60 kWh: the EV tells what it still wants, CoopGrid adds what its meter values said so far,
        # so what was drawn since the last of them (at 11 kW, up to a few hundred Wh) is missing
        assert session["target_wh"] == pytest.approx(42_000.0, abs=600.0)
        assert session["departure"] == (start + timedelta(hours=3)).isoformat().replace("+00:00", "Z")
        # what the EV said it takes (11 kW on three phases: 15 A) is the session's, and the scheduler's, ceiling
        told = session["ev_needs"]
        assert (told["min_charge_current_a"], told["max_charge_current_a"]) == (6.0, 15.0)
        assert told["energy_transfer"] == "AC_three_phase"

        # departure mode needs the grid: the scheduler allocates the EV's 15 A (not the charger's 16 A) and the
        # EV plans and draws that
        async with watched_limits(http, platform.http_url, "SIM-1") as allocated:
            await fleet.wait_for(lambda: 15.0 in allocated, 20, "the scheduler's 15 A")
            await fleet.wait_for(lambda: station.offered_limit_a() == 15.0, 20, "the EV's profile of 15 A")
            await fleet.wait_for(lambda: bool(scheduled(station, 15.0)), 10, "the EV's schedule of 15 A")
            assert set(scheduled(station, 15.0)) == {"Accepted"}
            await fleet.wait_for(lambda: station.drawn_current_a() == pytest.approx(15.0), 10, "15 A drawn")

            # renegotiation: a lower site limit, a new profile, a new schedule within it, followed
            async with http.patch(f"{platform.http_url}/api/sites/site-a", json={"grid_limit_a": 8.0}) as response:
                assert response.status == 200
            await fleet.wait_for(lambda: station.offered_limit_a() == 8.0, 20, "the renegotiated 8 A")
            await fleet.wait_for(lambda: bool(scheduled(station, 8.0)), 10, "the EV's schedule of 8 A")
            assert set(scheduled(station, 8.0)) == {"Accepted"}
            await fleet.wait_for(lambda: station.drawn_current_a() == pytest.approx(8.0), 10, "8 A drawn")
            await fleet.wait_for(lambda: allocated[-1:] == [8.0], 10, "the scheduler's 8 A")
        # the scheduler never allocated the session more than its EV said it takes
        assert allocated
        assert max(allocated) <= 15.0
        # a schedule the EV planned under 15 A and sent after the 8 A profile came is out of date: Rejected
        for message, answer in station.iso15118_answers:
            if type(message).__name__ == "NotifyEVChargingSchedule" and answer.status != "Accepted":
                assert message.charging_schedule["charging_schedule_period"][0]["limit"] == 15.0


async def test_plug_and_charge_the_contract_is_checked_by_ocsp_before_the_transaction(
    tmp_path: Path, charger_fleet: Fleet
) -> None:
    pki = Pki.create(tmp_path)
    good, revoked = (x509.load_pem_x509_certificate(pki.issue(name)[0].read_bytes()) for name in ("C-1", "C-2"))
    contracts = [(hash_data(good, pki.ca_cert),), (hash_data(revoked, pki.ca_cert),)]
    async with ocsp_responder(pki.ca_cert, pki.ca_key) as responder:
        responder.revoked.add(revoked.serial_number)
        settings = make_settings(
            tmp_path,
            chargers=[{"id": f"SIM-{n}", "site_id": "site-a"} for n in (1, 2)],
            id_tags=[{"id": "EMAID-1"}],
            ocpp={"contract_roots": str(pki.ca_path), "ocsp_responder_url": responder.url},
        )

        def plan(n: int) -> list[EVArrival]:
            return [replace(ISO_EV, contract=contracts[n])]

        async with (
            running_platform(settings) as platform,
            charger_fleet(platform.ocpp_url, 2, speed=60, protocol="2.0.1", plan=plan, id_tag="EMAID-1") as fleet,
        ):
            accepted, refused = fleet.chargers
            await fleet.wait_for(lambda: bool(statuses(accepted, "NotifyEVChargingNeeds")), 20, "a Plug & Charge start")
            await fleet.wait_for(lambda: bool(refused.iso15118_answers), 20, "the revoked contract's Authorize")
            assert [a.certificate_status for m, a in accepted.iso15118_answers if type(m).__name__ == "Authorize"] == [
                "Accepted"
            ]
            authorize, answer = refused.iso15118_answers[0]
            assert type(authorize).__name__ == "Authorize"
            assert (answer.id_token_info["status"], answer.certificate_status) == ("Invalid", "CertificateRevoked")
            assert refused.transaction_id() is None
            assert accepted.transaction_id() is not None
            assert responder.requests >= 2


def hash_data(certificate: x509.Certificate, issuer: x509.Certificate) -> dict[str, str]:
    name_hash, key_hash = issuer_hashes(issuer, "SHA256")
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": name_hash.hex(),
        "issuerKeyHash": key_hash.hex(),
        "serialNumber": format(certificate.serial_number, "x"),
        "responderURL": "http://127.0.0.1:9/",
    }


V2X_EV = replace(ISO_EV, max_power_w=7_000.0, bidirectional=True)  # 7 kW on three phases: 10.1 A


async def test_a_bidirectional_ev_on_a_21_station_tells_its_v2x_needs_and_the_scheduler_keeps_to_them(
    tmp_path: Path, charger_fleet: Fleet
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    async with needs_told(tmp_path, charger_fleet, start, "2.1", V2X_EV) as (platform, http, fleet, session):
        station = fleet.chargers[0]
        assert station.subprotocol == "ocpp2.1"
        told = session["ev_needs"]
        assert (told["energy_transfer"], told["control_mode"], told["mobility_needs_mode"]) == (
            "AC_BPT",
            "ScheduledControl",
            "EVCC",
        )
        assert told["available_transfers"] == ["AC_three_phase", "AC_BPT"]
        assert (told["min_charge_power_w"], told["max_charge_power_w"]) == (4140.0, 7000.0)
        assert told["max_discharge_power_w"] == 7000.0  # shown, never used: CoopGrid does not discharge EVs
        assert told["target_soc"] == 90
        assert session["mode"] == "departure"
        assert session["target_wh"] == pytest.approx(42_000.0, abs=600.0)  # its evTargetEnergyRequest, as above
        most_a = 7000.0 / (3 * 230.0)
        async with watched_limits(http, platform.http_url, "SIM-1") as allocated:
            await fleet.wait_for(lambda: any(abs(a - most_a) < 0.05 for a in allocated), 20, "the EV's 10.1 A")
            await fleet.wait_for(lambda: abs(station.drawn_current_a() - most_a) < 0.2, 20, "10.1 A drawn")
        assert max(allocated) <= most_a + 1e-6  # never more than its V2X maximum charge power
