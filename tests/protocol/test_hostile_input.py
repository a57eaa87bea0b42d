"""Hostile input against a running CoopGrid (issue 9): fuzzed frames and payloads, floods, oversized frames, secrets.

The platform runs in a thread of its own (its own event loop), so that
hypothesis drives it with plain synchronous clients and the test can count
the platform's asyncio tasks and trace its memory between the examples.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import threading
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect
from websockets.sync.connection import Connection

from gateway.platform import Platform
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.platform import make_settings, running_platform

CALL_ERROR_CODES = {
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurenceConstraintViolation",
    "OccurrenceConstraintViolation",
    "TypeConstraintViolation",
    "GenericError",
}
OPERATOR_TOKEN = "op-token-0123456789abcdef-secret"
CHARGER_PASSWORD = "charger-password-0123456789"


@dataclass
class Running:
    platform: Platform
    loop: asyncio.AbstractEventLoop

    def run(self, coroutine: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def tasks(self) -> int:
        return len(self.task_names())

    def settled_tasks(self, at_most: int, within_s: float = 5.0) -> int:
        """The task count once it falls to `at_most`, or after `within_s` (the broker's own short-lived tasks
        for a delivery or an unsubscription come and go: only tasks that stay count)."""
        deadline = time.monotonic() + within_s
        count = self.tasks()
        while count > at_most and time.monotonic() < deadline:
            time.sleep(0.1)
            count = self.tasks()
        return count

    def task_names(self) -> list[str]:
        async def names() -> list[str]:
            current = asyncio.current_task()
            return sorted(repr(t.get_coro()) for t in asyncio.all_tasks() if t is not current)

        return list(self.run(names()))


@contextlib.contextmanager
def platform_in_thread(tmp_path: Path, **overrides: Any) -> Iterator[Running]:
    """A whole platform on its own event loop in a thread; stopped when the block ends."""
    ready: Future[Running] = Future()
    stop: list[asyncio.Event] = []

    def main() -> None:
        async def serve() -> None:
            stop.append(asyncio.Event())
            try:
                async with running_platform(make_settings(tmp_path, **overrides)) as platform:
                    ready.set_result(Running(platform, asyncio.get_running_loop()))
                    await stop[0].wait()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                raise

        asyncio.run(serve())

    thread = threading.Thread(target=main, name="platform", daemon=True)
    thread.start()
    running = ready.result(60)
    deadline = time.monotonic() + 20
    while not running.platform.bus.connected.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)  # the bus's own tasks start with its connection: counted before any test
    try:
        yield running
    finally:
        running.loop.call_soon_threadsafe(stop[0].set)
        thread.join(60)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with platform_in_thread(tmp_path_factory.mktemp("hostile")) as running:
        yield running


def ocpp(running: Running, charger: str) -> ClientConnection:
    return connect(f"{running.platform.ocpp_url}/{charger}", subprotocols=["ocpp1.6"], open_timeout=10)  # type: ignore[list-item]


def answer_to(ws: Connection, unique_id: str, timeout: float = 5.0) -> list[Any]:
    """The central system's answer to `unique_id`; its own calls meanwhile are accepted."""
    while True:
        frame = json.loads(ws.recv(timeout))
        if frame[0] == 2:
            ws.send(json.dumps([3, frame[1], {"configurationKey": []} if frame[2] == "GetConfiguration" else {}]))
            continue
        if frame[1] == unique_id:
            return frame


def new_tasks(before: list[str], after: list[str]) -> list[str]:
    """Tasks running now that were not before (by coroutine name)."""
    strip = [name.split(" at ")[0] for name in before]
    left = [name.split(" at ")[0] for name in after]
    for name in strip:
        if name in left:
            left.remove(name)
    return left


def still_serves(ws: Connection) -> None:
    ws.send(json.dumps([2, "alive", "Heartbeat", {}]))
    frame = answer_to(ws, "alive")
    assert frame[0] == 3
    assert "currentTime" in frame[2]


# -- strategies ------------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
actions = st.sampled_from(
    ["BootNotification", "Heartbeat", "StartTransaction", "StopTransaction", "MeterValues", "StatusNotification",
     "Authorize", "DataTransfer", "TransactionEvent", "NoSuchAction", ""]
) | st.text(max_size=30)  # fmt: skip
calls = st.builds(
    lambda uid, action, payload: [2, uid, action, payload],
    st.text(min_size=1, max_size=36),
    actions,
    st.dictionaries(
        st.sampled_from(["connectorId", "idTag", "meterStart", "timestamp", "transactionId", "meterValue", "x"]),
        json_values,
        max_size=5,
    ),
)
frames = st.one_of(
    st.text(max_size=200),  # anything at all
    json_values.map(json.dumps),  # JSON that is not an OCPP-J array
    st.lists(json_values, max_size=5).map(json.dumps),  # arrays of the wrong shape
    calls.map(json.dumps),  # calls with fuzzed payloads
    st.builds(lambda t, uid, p: json.dumps([t, uid, p]), st.sampled_from([3, 4]), st.text(max_size=10), json_values),
)


# -- fuzzed OCPP frames ----------------------------------------------------------------------------------
def test_fuzzed_ocpp_frames_get_a_call_error_or_an_answer_and_leak_nothing(running: Running) -> None:
    with ocpp(running, "CP-A") as ws:
        still_serves(ws)
        tasks_before = running.tasks()
        names_before = running.task_names()
        seen = {"errors": 0, "results": 0, "ignored": 0}

        def fuzz_once(frame: str) -> None:
            ws.send(frame)
            try:
                parsed = json.loads(frame)
            except ValueError:
                parsed = None
            is_answer = isinstance(parsed, list) and len(parsed) >= 2 and parsed[0] in (3, 4)
            if is_answer and isinstance(parsed[1], str):  # an answer to a call we never made: ignored
                seen["ignored"] += 1
                still_serves(ws)
                return
            reply = json.loads(ws.recv(5))
            while reply[0] == 2:  # the central system's own calls (after an accepted boot)
                ws.send(json.dumps([3, reply[1], {"configurationKey": []}]))
                reply = json.loads(ws.recv(5))
            assert reply[0] in (3, 4), reply
            if reply[0] == 4:
                assert reply[2] in CALL_ERROR_CODES, reply
                assert isinstance(reply[3], str)
                assert isinstance(reply[4], dict)
                seen["errors"] += 1
            else:
                assert isinstance(parsed, list)
                assert parsed[0] == 2  # only a call gets a CallResult
                seen["results"] += 1
            if isinstance(parsed, list) and len(parsed) > 1 and isinstance(parsed[1], str):
                assert reply[1] == parsed[1]  # answered under the call's own id

        def fuzz(examples: int) -> None:
            @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
            @given(frame=frames)
            def run(frame: str) -> None:
                fuzz_once(frame)

            run()

        ignore = [tracemalloc.Filter(False, "*hypothesis*"), tracemalloc.Filter(False, tracemalloc.__file__)]
        tracemalloc.start()
        try:
            fuzz(100)  # warm-up: caches, compiled validators, first-time allocations
            still_serves(ws)
            time.sleep(0.5)
            before = tracemalloc.take_snapshot().filter_traces(ignore)
            fuzz(400)
            still_serves(ws)  # the connection lived through all of it
            time.sleep(0.5)  # background work after replies (configuration after boots) ends
            after = tracemalloc.take_snapshot().filter_traces(ignore)
        finally:
            tracemalloc.stop()
        growth = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        assert seen["errors"] > 100
        assert seen["ignored"] > 10
        settled = running.settled_tasks(tasks_before)
        assert settled <= tasks_before, new_tasks(names_before, running.task_names())  # no task left behind
        assert growth < 1_000_000, after.compare_to(before, "lineno")[:10]  # memory bounded: 400 frames, < 1 MB


# -- oversized frames and floods ---------------------------------------------------------------------------
def test_an_oversized_frame_closes_only_its_own_connection(running: Running) -> None:
    limit = running.platform.settings.ocpp.max_frame_bytes
    with ocpp(running, "CP-A") as bystander, ocpp(running, "CP-B") as offender:
        payload = {"vendorId": "x", "data": "y" * (limit + 10)}
        offender.send(json.dumps([2, "big", "DataTransfer", payload]))
        with pytest.raises(Exception, match="1009|message too big|too big"):
            offender.recv(5)
        assert offender.close_code == 1009  # "message too big", as RFC 6455 says
        still_serves(bystander)
    with ocpp(running, "CP-B") as again:  # and it may come back with sensible frames
        still_serves(again)


def test_a_flooding_charger_is_slowed_down_and_the_others_are_not(tmp_path: Path) -> None:
    rate, burst, flood = 50.0, 20, 400
    with platform_in_thread(tmp_path, ocpp={"max_frames_per_s": rate, "frame_burst": burst}) as running:
        with ocpp(running, "CP-A") as flooder, ocpp(running, "CP-B") as neighbour:
            still_serves(flooder)
            still_serves(neighbour)
            started = time.monotonic()
            for k in range(flood):  # sent without waiting for answers: not how OCPP-J works
                flooder.send(json.dumps([2, f"f{k}", "Heartbeat", {}]))
            latencies = []
            for k in range(20):
                sent = time.monotonic()
                neighbour.send(json.dumps([2, f"n{k}", "Heartbeat", {}]))
                assert answer_to(neighbour, f"n{k}")[0] == 3
                latencies.append(time.monotonic() - sent)
                time.sleep(0.05)
            answered = [json.loads(flooder.recv(30)) for _ in range(flood)]
            elapsed = time.monotonic() - started
            assert [frame[1] for frame in answered] == [f"f{k}" for k in range(flood)]  # none lost
            assert all(frame[0] == 3 for frame in answered)
            assert elapsed >= (flood - burst) / rate * 0.9  # held to the rate
            assert max(latencies) < 0.5  # the neighbour did not wait behind the flood
            assert running.platform.central.throttled_frames >= flood - burst - 5
            still_serves(flooder)


# -- fuzzed MQTT payloads through a real broker ----------------------------------------------------------------
@pytest.mark.integration
def test_fuzzed_solar_payloads_are_refused_and_counted(tmp_path: Path, mosquitto_broker: Mosquitto) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    host, port = mosquitto_broker.host, mosquitto_broker.port
    inverters = [{"id": "inv-1", "rated_power_w": 5000.0}, {"id": "inv-2", "rated_power_w": 5000.0}]
    park = {"id": "park-1", "member_id": "m1", "inverters": inverters}
    with platform_in_thread(tmp_path, mqtt={"url": f"mqtt://{host}:{port}"}, parks=[park]) as running:
        solar = running.platform.solar
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fuzz-inverter")
        client.connect(host, port)
        client.loop_start()
        try:
            deadline = time.monotonic() + 10
            while not running.platform.bus.connected.is_set() and time.monotonic() < deadline:
                time.sleep(0.05)
            tasks_before = running.tasks()
            counted = [0]  # messages the ingest must take or count as refused
            topics = st.sampled_from(
                ["coopgrid/solar/park-1/inv-1/telemetry", "coopgrid/solar/park-1/inv-1/state",
                 "coopgrid/solar/park-1/nope/telemetry"]
            )  # fmt: skip
            payloads = st.one_of(
                st.binary(max_size=300),
                json_values.map(lambda v: json.dumps(v).encode()),
                st.fixed_dictionaries(
                    {"ts": st.one_of(st.text(max_size=30), st.integers(), st.floats()), "ac_power_w": json_values},
                    optional={"energy_wh": json_values, "status": json_values},
                ).map(lambda d: json.dumps(d).encode()),
            )

            @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
            @given(topic=topics, payload=payloads)
            def fuzz(topic: str, payload: bytes) -> None:
                client.publish(topic, payload, qos=1).wait_for_publish(5)
                state = payload.decode("utf-8", errors="replace").strip().lower()
                if topic.endswith("/telemetry") or state not in ("online", "offline"):
                    counted[0] += 1

            fuzz()
            good = {"ts": "2026-01-01T12:00:00Z", "ac_power_w": 1200.0, "energy_wh": 5000.0}
            client.publish("coopgrid/solar/park-1/inv-2/telemetry", json.dumps(good), qos=1).wait_for_publish(5)
            counted[0] += 1
            deadline = time.monotonic() + 20
            while solar.accepted + sum(solar.rejects.values()) < counted[0] and time.monotonic() < deadline:
                time.sleep(0.1)
            assert solar.accepted + sum(solar.rejects.values()) == counted[0]  # each one taken or counted
            assert sum(solar.rejects.values()) > 200
            view = next(p for p in solar.parks_view() if p["id"] == "park-1")
            inverter_2 = next(i for i in view["inverters"] if i["id"] == "inv-2")
            assert inverter_2["power_w"] == pytest.approx(1200.0)  # a good reading still goes through
            assert running.platform.bus.connected.is_set()
            assert running.settled_tasks(tasks_before) <= tasks_before, running.task_names()
        finally:
            client.loop_stop()
            client.disconnect()


# -- secrets ---------------------------------------------------------------------------------------------------
async def test_no_secret_in_logs_or_api_responses(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # ours at DEBUG; libraries as `coopgrid serve` sets them (aiosqlite at
    for noisy in ("amqtt", "transitions", "aiosqlite", "alembic", "aiohttp.access"):  # DEBUG logs SQL parameters)
        caplog.set_level(logging.WARNING, logger=noisy)
    settings = make_settings(
        tmp_path,
        http={"host": "127.0.0.1", "port": 0, "auth": True},
        operator_token=OPERATOR_TOKEN,
        chargers=[{"id": "CP-S", "site_id": "site-a", "security_profile": 1, "password": CHARGER_PASSWORD}],
    )
    bodies: list[str] = []
    async with running_platform(settings) as platform, aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        wrong = base64.b64encode(f"CP-S:{CHARGER_PASSWORD}-wrong".encode()).decode()
        with contextlib.suppress(aiohttp.WSServerHandshakeError):
            await http.ws_connect(f"{platform.ocpp_url}/CP-S", headers={"Authorization": f"Basic {wrong}"})
        basic = base64.b64encode(f"CP-S:{CHARGER_PASSWORD}".encode()).decode()
        async with http.ws_connect(
            f"{platform.ocpp_url}/CP-S", protocols=("ocpp1.6",), headers={"Authorization": f"Basic {basic}"}
        ) as ws:
            await ws.send_str(
                json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}])
            )
            await ws.receive_str(timeout=5)
        new_password = "another-password-0123456789"
        async with http.patch(
            f"{platform.http_url}/api/chargepoints/CP-S", json={"password": new_password}, headers=auth
        ) as response:
            bodies.append(await response.text())
        async with http.get(
            f"{platform.http_url}/api/chargepoints/CP-S", headers={"Authorization": "Bearer wrong-token"}
        ) as response:
            assert response.status == 401
            bodies.append(await response.text())
        for path in ("/api/chargepoints", "/api/chargepoints/CP-S", "/api/openapi.json", "/metrics", "/healthz"):
            async with http.get(f"{platform.http_url}{path}", headers=auth) as response:
                bodies.append(await response.text())
    secrets = [OPERATOR_TOKEN, CHARGER_PASSWORD, new_password, basic, wrong, "wrong-token"]
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "CP-S" in logged  # the log is there, about this charger ...
    for secret in secrets:
        assert secret not in logged  # ... and says nothing secret
        for body in bodies:
            assert secret not in body
    assert "scrypt$" not in logged  # nor the stored password hashes
    assert not any("scrypt$" in body or "password_hash" in body for body in bodies)
