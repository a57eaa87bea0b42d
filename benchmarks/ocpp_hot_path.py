"""The OCPP hot path, stage by stage, against the `ocpp` library's own way, in one run.

Per MeterValues call (the 1.6 frame of benchmarks/ocpp_throughput.py): reading the frame's JSON,
validating the payload against its schema, and writing the answer. CoopGrid's stages
(`chargepoints.framing.decode`/`dumps`: msgspec; `chargepoints.validation`: jsonschema-rs, draft 4) run
beside the `ocpp` library's (`json.loads`/`json.dumps`, and its jsonschema Draft4Validator, as
`ocpp.messages.validate_payload` uses it). Prints µs per call and the ratio; CPU time, so a busy machine
moves both columns alike.

    .venv/bin/python benchmarks/ocpp_hot_path.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ocpp.messages import MessageType, get_validator  # noqa: E402
from ocpp_throughput import meter_frame  # noqa: E402

from chargepoints.framing import decode, dumps  # noqa: E402
from chargepoints.validation import validator  # noqa: E402


def per_call_us(work: Callable[[], Any], calls: int) -> float:
    best = float("inf")
    for _ in range(5):  # the best of five: the least disturbed
        started = time.process_time()
        for _ in range(calls):
            work()
        best = min(best, time.process_time() - started)
    return best / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    raw = meter_frame("1234", 17, 123_456)
    payload = json.loads(raw)[3]
    library = get_validator(MessageType.Call, "MeterValues", "1.6")
    ours = validator("1.6", "MeterValues")
    answer = [3, "1234", {}]
    stages = [
        ("read the frame", lambda: json.loads(raw), lambda: decode(raw)),
        ("validate the payload", lambda: library.validate(payload), lambda: ours(payload)),
        ("write the answer", lambda: json.dumps(answer, separators=(",", ":")), lambda: dumps(answer)),
    ]
    print(f"MeterValues (1.6), {len(raw)} bytes; CPU µs per call, best of 5 x {args.calls:,}")
    print(f"{'stage':<24}{'ocpp library':>14}{'CoopGrid':>12}{'ratio':>9}")
    total_library = total_ours = 0.0
    for name, theirs, mine in stages:
        a, b = per_call_us(theirs, args.calls), per_call_us(mine, args.calls)
        total_library, total_ours = total_library + a, total_ours + b
        print(f"{name:<24}{a:>14.2f}{b:>12.2f}{a / b:>8.1f}x")
    print(f"{'together':<24}{total_library:>14.2f}{total_ours:>12.2f}{total_library / total_ours:>8.1f}x")


if __name__ == "__main__":
    main()
