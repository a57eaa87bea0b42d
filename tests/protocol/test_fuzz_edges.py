"""Fuzzing the edges of a running CoopGrid (issue 23): charger ids at the door, MQTT topics and payloads.

Each property holds for every example: the process stays up (the bus connected), a neighbour charger is
still answered, and a session no example addressed does not change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

import paho.mqtt.client as paho
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.sync.connection import Connection

from chargepoints.identity import valid_identity
from tests.protocol.test_hostile_input import Running, answer_to, platform_in_thread, still_serves

IDENTITY_ALPHABET = "abcXYZ019*-_=+|@."


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with platform_in_thread(tmp_path_factory.mktemp("edges"), ocpp={"unknown_chargers": "accept"}) as running:
        yield running


def _connect(running: Running, charge_point_id: str) -> ClientConnection:
    url = f"{running.platform.ocpp_url}/{quote(charge_point_id, safe='')}"
    return connect(url, subprotocols=["ocpp1.6"], open_timeout=10)  # type: ignore[list-item]


def _call(ws: Connection, unique_id: str, action: str, payload: dict[str, object]) -> list[object]:
    ws.send(json.dumps([2, unique_id, action, payload]))
    return answer_to(ws, unique_id)


@pytest.fixture(scope="module")
def session_of_b(running: Running) -> Iterator[tuple[Connection, int]]:
    """CP-B charging: a session no fuzzed example addresses."""
    with _connect(running, "CP-B") as ws:
        _call(ws, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        now = datetime.now(UTC).isoformat()
        started = _call(
            ws, "s", "StartTransaction", {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 100, "timestamp": now}
        )
        transaction_id = int(started[2]["transactionId"])  # type: ignore[index]
        sample = {"value": "600", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
        meter = {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [{"timestamp": now, "sampledValue": [sample]}],
        }
        _call(ws, "m", "MeterValues", meter)
        yield ws, transaction_id


def _session_energy(running: Running, transaction_id: int) -> tuple[float | None, float | None, bool]:
    async def read() -> tuple[float | None, float | None, bool]:
        await running.platform.central.flush()
        records = await running.platform.store.list_transactions(charge_point_id="CP-B")
        record = next(r for r in records if r.id == transaction_id)
        newer = running.platform.central.unflushed_register(transaction_id)
        return record.meter_last_wh if newer is None else newer, record.meter_stop_wh, record.active

    return running.run(read())  # type: ignore[no-any-return]


identities = st.one_of(
    st.text(max_size=60),  # anything at all
    st.text(alphabet=IDENTITY_ALPHABET, min_size=1, max_size=60),  # near the rule: valid up to 48
    st.text(alphabet=IDENTITY_ALPHABET + "#/:% \n\0$é", min_size=1, max_size=50),
)


def test_fuzzed_charger_ids_are_refused_or_served_and_nothing_else_changes(
    running: Running, session_of_b: tuple[Connection, int]
) -> None:
    neighbour, transaction_id = session_of_b
    before = _session_energy(running, transaction_id)
    outcomes = {"served": 0, "refused": 0}

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(charge_point_id=identities)
    def run(charge_point_id: str) -> None:
        if charge_point_id in ("CP-A", "CP-B"):
            return
        status = 101
        try:
            with _connect(running, charge_point_id) as ws:
                frame = _call(ws, "hb", "Heartbeat", {})
                assert frame[0] == 3
        except InvalidStatus as refused:
            status = refused.response.status_code
        if status == 101:
            outcomes["served"] += 1
            assert valid_identity(charge_point_id), charge_point_id
        else:
            outcomes["refused"] += 1
            assert status in (400, 404), charge_point_id  # 404: a '/' the router took for a separator
            assert not valid_identity(charge_point_id), charge_point_id
        still_serves(neighbour)

    run()
    assert outcomes["served"] > 10
    assert outcomes["refused"] > 10
    assert running.platform.bus.connected.is_set()
    assert running.platform.bus.failed == 0
    assert _session_energy(running, transaction_id) == before
    stored = running.run(running.platform.store.load_chargers())
    assert all(valid_identity(record.id) for record in stored)


# control characters are refused by the broker itself (MQTT 5 1.5.4: a Server MAY close the connection;
# Mosquitto does), so they never reach a subscriber
topic_levels = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=20).filter(
    lambda t: not any(c in t for c in "+#/\0")
)


def test_fuzzed_mqtt_topics_and_payloads_are_counted_and_kept_aside(
    running: Running, session_of_b: tuple[Connection, int]
) -> None:
    neighbour, transaction_id = session_of_b
    before = _session_energy(running, transaction_id)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="fuzz-publisher")
    client.connect(running.platform.mqtt_host, running.platform.mqtt_port)
    client.loop_start()
    received_before = running.platform.bus.received
    rejected_before = sum(running.platform.solar.rejects.values())
    sent = 0
    try:

        @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            park=topic_levels,
            inverter=topic_levels,
            kind=st.sampled_from(["telemetry", "state", "other"]),
            payload=st.one_of(
                st.binary(max_size=300),
                st.dictionaries(
                    st.sampled_from(["ts", "ac_power_w", "energy_wh", "status", "x"]),
                    st.one_of(st.floats(), st.integers(), st.text(max_size=10), st.none()),
                ).map(lambda d: json.dumps(d).encode()),
                st.just(b'{"ac_power_w": NaN, "energy_wh": Infinity}'),
                st.just(b"[" * 3000 + b"]" * 3000),
            ),
        )
        def run(park: str, inverter: str, kind: str, payload: bytes) -> None:
            nonlocal sent
            info = client.publish(f"coopgrid/solar/{park}/{inverter}/{kind}", payload, qos=1)
            info.wait_for_publish(5)
            sent += kind != "other"  # what the platform subscribes to

        run()
        deadline = time.monotonic() + 20
        while running.platform.bus.received - received_before < sent and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.loop_stop()
        client.disconnect()
    assert running.platform.bus.received - received_before >= sent
    still_serves(neighbour)
    assert running.platform.bus.connected.is_set()
    solar = running.platform.solar
    # no park is configured here: every telemetry and state message is refused once, counted and kept aside
    assert sum(solar.rejects.values()) - rejected_before == sent
    assert len(solar.rejected) > 0
    assert _session_energy(running, transaction_id) == before
