"""Third-party inverter layouts, exact topics and payloads as the gateways publish them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from solar.adapters import LAYOUTS, PayloadError
from solar.ingest import InverterSpec, ParkSpec, SolarIngest

T0 = datetime(2026, 6, 1, 10, tzinfo=UTC)


def make(adapter: str, topic: str) -> tuple[SolarIngest, list[object]]:
    events: list[object] = []

    async def publish(event: object) -> None:
        events.append(event)

    park = ParkSpec("p", "m", {"i": InverterSpec("i", 2000.0, adapter=adapter, topic=topic)})
    return SolarIngest(parks={"p": park}, publish=publish, clock=lambda: T0), events


@pytest.mark.parametrize(
    ("adapter", "base", "messages", "power", "energy_today"),
    [
        (
            "opendtu",
            "solar/114182945123",
            [
                ("solar/114182945123/0/yieldtotal", b"1234.5"),
                ("solar/114182945123/0/power", b"812.3"),
                ("solar/114182945123/0/yieldtotal", b"1234.75"),
            ],
            812.3,
            250.0,
        ),
        (
            "ahoy",
            "inverter/roof",
            [
                ("inverter/roof/ch0/YieldTotal", b"10.0"),
                ("inverter/roof/ch0/P_AC", b"640"),
                ("inverter/roof/ch0", b'{"P_AC": 650.5, "YieldTotal": 10.1}'),
            ],
            650.5,
            100.0,
        ),
        (
            "tasmota",
            "pv_meter",
            [
                ("tele/pv_meter/SENSOR", b'{"Time": "2026-06-01T10:00:00", "ENERGY": {"Total": 3.0, "Power": 300}}'),
                ("tele/pv_meter/SENSOR", b'{"ENERGY": {"Total": 3.5, "Power": 420}}'),
            ],
            420.0,
            500.0,
        ),
        (
            "victron",
            "N/c0619ab1/pvinverter/20",
            [
                ("N/c0619ab1/pvinverter/20/Ac/Energy/Forward", b'{"value": 7.0}'),
                ("N/c0619ab1/pvinverter/20/Ac/Power", b'{"value": 936}'),
                ("N/c0619ab1/pvinverter/20/Ac/Power", b'{"value": null}'),
                ("N/c0619ab1/pvinverter/20/Ac/Energy/Forward", b'{"value": 7.25}'),
            ],
            936.0,
            250.0,
        ),
        (
            "sunspec",
            "site/inverter1/sunspec",
            [
                ("site/inverter1/sunspec", b'{"W": 1530, "W_SF": -1, "WH": 12000, "WH_SF": 0, "St": 4}'),
                ("site/inverter1/sunspec", b'{"W": 1540, "W_SF": -1, "WH": 12030, "WH_SF": 0, "St": 4}'),
            ],
            154.0,
            30.0,
        ),
    ],
)
async def test_layouts_drive_live_power_and_energy(
    adapter: str, base: str, messages: list[tuple[str, bytes]], power: float, energy_today: float
) -> None:
    ingest, _ = make(adapter, base)
    assert set(LAYOUTS[adapter].topics(base)) <= set(ingest.topic_filters)
    for topic, payload in messages:
        await ingest.handle(topic, payload)
    assert ingest.rejects == {}
    assert ingest.total_power_w() == pytest.approx(power)
    assert ingest.parks_view()[0]["energy_today_wh"] == pytest.approx(energy_today)


@pytest.mark.parametrize(
    ("adapter", "base", "offline_topic", "offline_payload"),
    [
        ("opendtu", "solar/1", "solar/1/status/reachable", b"0"),
        ("ahoy", "inverter/x", "inverter/x/available", b"0"),
        ("tasmota", "t", "tele/t/LWT", b"Offline"),
        ("victron", "N/p/pvinverter/1", "N/p/pvinverter/1/Ac/Power", b""),
        ("sunspec", "s", "s", b'{"W": 0, "St": 7}'),
    ],
)
async def test_layouts_report_an_inverter_gone(
    adapter: str, base: str, offline_topic: str, offline_payload: bytes
) -> None:
    ingest, _ = make(adapter, base)
    first_power = next(t for t, part in LAYOUTS[adapter].topics(base).items() if part in ("power", "sensor", "model"))
    payload = {"sensor": b'{"ENERGY": {"Power": 500, "Total": 1}}', "model": b'{"W": 500, "St": 4}'}.get(
        LAYOUTS[adapter].topics(base)[first_power], b'{"value": 500}' if adapter == "victron" else b"500"
    )
    await ingest.handle(first_power, payload)
    assert ingest.total_power_w() == 500.0
    await ingest.handle(offline_topic, offline_payload)
    assert ingest.total_power_w() == 0.0
    assert ingest.parks_view()[0]["inverters"][0]["state"] == "offline"


async def test_bad_third_party_payloads_are_counted() -> None:
    ingest, _ = make("opendtu", "solar/1")
    await ingest.handle("solar/1/0/power", b"lots")
    await ingest.handle("solar/1/0/power", b"99999")
    await ingest.handle("solar/1/0/power", b"\xff")
    assert ingest.rejects == {"not_a_number": 1, "power_above_rating": 1, "not_utf8": 1}


@given(
    adapter=st.sampled_from(sorted(LAYOUTS)),
    part=st.sampled_from(["power", "energy", "reachable", "available", "json", "sensor", "lwt", "model"]),
    payload=st.binary(max_size=80),
)
def test_layout_parsers_raise_nothing_but_payload_error(adapter: str, part: str, payload: bytes) -> None:
    try:
        LAYOUTS[adapter].parse(part, payload)
    except PayloadError as exc:
        assert exc.reason  # noqa: PT017
