"""Property: whatever JSON a charger sends, every Call gets exactly one answer and no other charger's session
changes (issue 23, items 2, 3 and 7).

A running platform (its own event loop in a thread) serves a victim charger per protocol version with a
transaction under way; an attacker per version sends hypothesis-built frames: schema-valid requests of every
action the central system handles with one value replaced by anything (NaN, Infinity, 1e400, 10**30, long
strings, deep nesting, wrong types), requests aimed at the victim's transaction, and arbitrary JSON or text.
After each frame a Heartbeat probe shows that exactly one answer came (a CallResult, or a CallError with a
code of the version) and that the connection lives; at the end the victims' sessions are as they were.
"""

from __future__ import annotations

import copy
import json
import math
import string
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect
from websockets.sync.connection import Connection

from chargepoints.v16 import Session16
from chargepoints.v201 import Session201
from tests.protocol.ocpp_client import SUBPROTOCOL, server_call_answer
from tests.protocol.test_hostile_input import Running, platform_in_thread
from tests.protocol.test_ocpp201_replies import request_for

CODES = {
    "1.6": {
        "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError", "FormationViolation",
        "PropertyConstraintViolation", "OccurenceConstraintViolation", "TypeConstraintViolation", "GenericError",
    },
    "2.0.1": {
        "FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported", "NotImplemented",
        "NotSupported", "OccurenceConstraintViolation", "OccurrenceConstraintViolation",
        "PropertyConstraintViolation", "ProtocolError", "RpcFrameworkError", "SecurityError",
        "TypeConstraintViolation",
    },
}  # fmt: skip
HANDLED = {"1.6": sorted(Session16.handlers), "2.0.1": sorted(Session201.handlers)}
VICTIM = {"1.6": "CP-V16", "2.0.1": "CP-V201"}
ATTACKER = {"1.6": "CP-X16", "2.0.1": "CP-X201"}
VICTIM_TX_201 = "victim-tx"
SLOT = "\u2063slot\u2063"  # stands in the JSON text for a literal json.dumps cannot write (NaN, deep nesting)


# -- the platform and its victims ------------------------------------------------------------------------------
def ocpp(running: Running, charger: str, version: str) -> ClientConnection:
    url = f"{running.platform.ocpp_url}/{charger}"
    return connect(url, subprotocols=[SUBPROTOCOL[version]], open_timeout=10)  # type: ignore[list-item]


def exchange(ws: Connection, frame: list[Any]) -> list[Any]:
    ws.send(json.dumps(frame))
    while True:
        answer = json.loads(ws.recv(10))
        if answer[0] != 2:
            return list(answer)
        ws.send(json.dumps([3, answer[1], server_call_answer(answer)]))


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with platform_in_thread(tmp_path_factory.mktemp("fuzz"), ocpp={"max_frames_per_s": 0}) as running:
        yield running


def victims_state(running: Running, tx_16: int) -> Any:
    platform = running.platform

    async def read() -> Any:
        await platform.central.flush_meters()
        one = await platform.store.get_transaction(tx_16)
        two = await platform.store.find_transaction_201(VICTIM["2.0.1"], VICTIM_TX_201)
        assert one is not None
        assert two is not None
        ledger = {
            tx: (live.last_energy_wh, live.energy_wh, live.green_wh)
            for tx, live in platform.ledger.live.items()
            if tx in (one.id, two.id)
        }
        connectors = {cp: dict(platform.central.state(cp).connectors) for cp in VICTIM.values()}
        return one, two, ledger, connectors

    return running.run(read())


# -- frames --------------------------------------------------------------------------------------------------
def leaf_paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict) and node:
        return [path] + [p for key, value in node.items() for p in leaf_paths(value, (*path, key))]
    if isinstance(node, list) and node:
        return [path] + [p for i, value in enumerate(node) for p in leaf_paths(value, (*path, i))]
    return [path]


def set_path(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node[path[0]] = set_path(node[path[0]], path[1:], value)
    return node


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
literals = st.one_of(
    st.sampled_from(
        [
            "NaN",
            "Infinity",
            "-Infinity",
            "1e400",
            "-1e400",
            "1e308",
            "-0",
            str(10**30),
            str(-(10**30)),
            str(2**31),
            str(-(2**31) - 1),
            str(2**31 - 1),
            str(2**63),
            "0",
            "-1",
            '""',
            "[]",
            "{}",
            "null",
            "true",
            '"\\ud800"',  # a lone surrogate: no Unicode text
            '"x\\udfff"',
            '"\\ud83d\\ude00"',  # a pair: a character
        ]
    ),  # fmt: skip
    st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n + "]" * n),  # nesting, up to far too deep
    st.integers(min_value=37, max_value=5000).map(lambda n: json.dumps("x" * n)),  # long strings
    json_values.map(json.dumps),  # any JSON, any type
)
_good_ids = st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=36)
_bad_ids = st.one_of(st.text(max_size=60), st.integers(), st.none())
unique_ids = st.integers(0, 4).flatmap(lambda k: _good_ids if k else _bad_ids)  # mostly usable ids


def frames(version: str, victim_tx_16: int) -> st.SearchStrategy[str]:
    @st.composite
    def call(draw: st.DrawFn) -> str:
        action = draw(st.sampled_from([*HANDLED[version], "NoSuchAction"]))
        payload = copy.deepcopy(request_for(version, action)) if action in HANDLED[version] else {}
        # aimed at the victim's transaction (2.0.1 ids are the station's own: the same string is its own)
        if version == "1.6" and action in ("MeterValues", "StopTransaction"):
            payload["transactionId"] = victim_tx_16
        if version == "2.0.1" and action == "TransactionEvent":
            payload["transactionInfo"]["transactionId"] = VICTIM_TX_201
        literal = None
        if draw(st.integers(0, 3)):  # mostly: one value (or the whole payload) replaced by anything
            payload = set_path(payload, draw(st.sampled_from(leaf_paths(payload))), SLOT)
            literal = draw(literals)
        text = json.dumps([2, draw(unique_ids), action, payload])
        return text if literal is None else text.replace(json.dumps(SLOT), literal)

    anything = st.one_of(
        literals,  # not a message array at all
        st.text(max_size=100),  # not JSON
        st.lists(json_values, max_size=5).map(json.dumps),  # arrays of the wrong shape
        st.builds(lambda t, uid, p: json.dumps([t, uid, p]), st.sampled_from([3, 4, 5, 2.0]), unique_ids, json_values),
    )
    return st.integers(0, 3).flatmap(lambda k: call() if k else anything)  # mostly calls


# -- the property ------------------------------------------------------------------------------------------
def _refuse(name: str) -> Any:
    raise ValueError(name)


def _finite(text: str) -> float:
    if not math.isfinite(value := float(text)):
        raise ValueError(text)
    return value


def _unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def strict_json(text: str) -> Any:
    """JSON as RFC 8259 has it: no NaN or Infinity, numbers within a double, strings of Unicode text."""
    frame = json.loads(text, parse_constant=_refuse, parse_float=_finite)
    if not _unicode(json.dumps(frame, ensure_ascii=False)):
        raise ValueError("a lone surrogate")
    return frame


def expected_id(text: str) -> tuple[bool, Any]:
    """(whether the central system must answer the frame, the id its answer must carry; None: not known)."""
    try:
        frame = strict_json(text)
    except (ValueError, RecursionError):
        try:
            frame = json.loads(text)  # Python's json takes NaN, Infinity and 1e400, not deep nesting
        except (ValueError, RecursionError):
            return True, None
        if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str):
            if frame[0] in (3, 4):
                return False, None  # an answer is never answered
            readable = len(frame[1]) <= 36 and _unicode(frame[1])
            return True, frame[1] if readable else "-1"  # refused as a whole, under the Call's id if readable
        return True, "-1"
    if isinstance(frame, list) and len(frame) >= 3 and frame[0] in (3, 4) and isinstance(frame[1], str):
        return False, None  # an answer to no call of ours: ignored
    if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str) and len(frame[1]) <= 36:
        return True, frame[1]
    return True, "-1"


def check_one_exchange(ws: Connection, version: str, text: str, probe: str) -> list[list[Any]]:
    must_answer, unique_id = expected_id(text)
    ws.send(text)
    ws.send(json.dumps([2, probe, "Heartbeat", {}]))
    answers = []
    while True:
        frame = json.loads(ws.recv(10))
        if frame[0] == 2:  # the central system's own calls (after an accepted boot)
            ws.send(json.dumps([3, frame[1], server_call_answer(frame)]))
            continue
        if frame[1] == probe and frame[0] == 3:
            break
        answers.append(frame)
    assert len(answers) == (1 if must_answer else 0), (text[:300], answers)
    for answer in answers:
        assert answer[0] in (3, 4), answer
        if unique_id is not None:
            assert answer[1] == unique_id, (text[:300], answer)
        if answer[0] == 4:
            assert answer[2] in CODES[version], answer
            assert answer[2] != "InternalError", (text[:300], answer)  # nothing failed inside
            assert isinstance(answer[3], str), answer
            assert len(answer[3]) < 300, answer
            assert isinstance(answer[4], dict), answer
    return answers


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_any_frame_gets_one_answer_and_changes_no_other_chargers_session(running: Running, version: str) -> None:
    with ocpp(running, VICTIM["1.6"], "1.6") as v16, ocpp(running, VICTIM["2.0.1"], "2.0.1") as v201:
        start = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 1000, "timestamp": "2026-03-01T11:00:00Z"}
        tx_16 = exchange(v16, [2, "s", "StartTransaction", start])[2]["transactionId"]
        meter = {"value": "1500", "unit": "Wh"}
        values = {"connectorId": 1, "transactionId": tx_16, "meterValue": [{"timestamp": "2026-03-01T11:05:00Z"}]}
        values["meterValue"][0]["sampledValue"] = [meter]
        assert exchange(v16, [2, "m", "MeterValues", values])[0] == 3
        event = request_for("2.0.1", "TransactionEvent")
        event.update(eventType="Started", seqNo=0, evse={"id": 1, "connectorId": 1})
        event["transactionInfo"]["transactionId"] = VICTIM_TX_201
        event["meterValue"] = [{"timestamp": "2026-03-01T11:00:00Z", "sampledValue": [{"value": 2000.0}]}]
        assert exchange(v201, [2, "t", "TransactionEvent", event])[0] == 3
        before = victims_state(running, tx_16)

        with ocpp(running, ATTACKER[version], version) as ws:
            probes = iter(range(10**9))
            outcomes: Counter[str] = Counter()

            @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
            @given(text=frames(version, tx_16))
            def fuzz(text: str) -> None:
                for answer in check_one_exchange(ws, version, text, f"probe~{next(probes)}"):
                    outcomes["result" if answer[0] == 3 else answer[2]] += 1

            fuzz()
        # the frames reached every stage: parsing, framing, validation, the handlers
        bad_json = {"1.6": "FormationViolation", "2.0.1": "FormatViolation"}[version]
        assert outcomes["result"] >= 5, outcomes
        assert outcomes[bad_json] >= 10, outcomes
        assert outcomes["PropertyConstraintViolation"] + outcomes["TypeConstraintViolation"] >= 10, outcomes

        assert victims_state(running, tx_16) == before
        # the victims are still served
        assert exchange(v16, [2, "hb", "Heartbeat", {}])[:2] == [3, "hb"]
        assert exchange(v201, [2, "hb", "Heartbeat", {}])[:2] == [3, "hb"]
