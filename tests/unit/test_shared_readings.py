"""Readings passed between instances (shared ingest): the codec, and readings that cross on their way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.cluster import decode_parsed, encode_parsed
from solar.ingest import InverterSpec, ParkSpec, Reading, Rejected, SolarIngest

T0 = datetime(2026, 6, 1, 10, tzinfo=UTC)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
amounts = st.none() | st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)
readings = st.builds(
    Reading,
    park_id=st.text(max_size=20),
    inverter_id=st.text(max_size=20),
    kind=st.sampled_from(["sample", "partial", "state"]),
    ts=times,
    received=times,
    power_w=amounts,
    energy_wh=amounts,
    online=st.none() | st.booleans(),
)
rejections = st.builds(Rejected, received=times, topic=st.text(), reason=st.text(max_size=40), payload=st.binary())


@given(readings | rejections)
def test_what_is_passed_on_comes_back_the_same(item: Reading | Rejected) -> None:
    assert decode_parsed(encode_parsed(item, "inst-a")) == item


@given(st.binary())
def test_arbitrary_bytes_are_refused_with_a_value_error(payload: bytes) -> None:
    try:
        decoded = decode_parsed(payload)
    except ValueError:
        return
    assert isinstance(decoded, Reading | Rejected)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"k": "sample", "park": "p", "inv": "i", "ts": "2026-06-01T10:00:00", "rx": "2026-06-01T10:00:00Z"}',
        b'{"k": "sample", "park": "p", "inv": "i", "ts": "2026-06-01T10:00:00Z", "rx": "2026-06-01T10:00:00Z", '
        b'"p": -1}',
        b'{"k": "partial", "park": "p", "inv": "i", "ts": "2026-06-01T10:00:00Z", "rx": "2026-06-01T10:00:00Z", '
        b'"e": true}',
        b'{"k": "rejected", "rx": "2026-06-01T10:00:00Z", "topic": "t", "reason": "r", "raw": "%%%"}',
        b'{"k": "gossip"}',
        b"[]",
    ],
)
def test_readings_that_do_not_hold_are_refused(payload: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each for its own reason
        decode_parsed(payload)


async def test_counter_readings_crossing_on_their_way_are_not_taken_for_a_reset() -> None:
    """Two instances parsed consecutive OpenDTU counter readings; the older one arrives second."""
    park = ParkSpec("p", "m", {"i": InverterSpec("i", 2000.0, adapter="opendtu", topic="solar/1141")})

    async def publish(event: object) -> None:
        pass

    ingest = SolarIngest(parks={"p": park}, publish=publish, clock=lambda: T0)
    first, second, third = (T0 + timedelta(seconds=s) for s in (0, 5, 10))
    await ingest.apply(Reading("p", "i", "partial", first, first, energy_wh=1000.0))
    await ingest.apply(Reading("p", "i", "partial", third, third, energy_wh=1020.0))
    await ingest.apply(Reading("p", "i", "partial", second, second, energy_wh=1010.0))  # crossed
    await ingest.apply(Reading("p", "i", "partial", second, second, power_w=700.0))
    assert ingest.parks_view()[0]["energy_today_wh"] == pytest.approx(20.0)
    assert ingest.minutes.counter_resets == 0
    assert ingest.rejects == {"out_of_order_or_duplicate": 1}
    assert ingest.total_power_w() == 700.0
    # an older power reading after a newer one keeps the newer
    await ingest.apply(Reading("p", "i", "partial", third, third, power_w=900.0))
    await ingest.apply(Reading("p", "i", "partial", second, second, power_w=650.0))
    assert ingest.total_power_w() == 900.0


async def test_an_offline_state_older_than_the_last_reading_is_ignored() -> None:
    park = ParkSpec("p", "m", {"i": InverterSpec("i", 2000.0)})

    async def publish(event: object) -> None:
        pass

    ingest = SolarIngest(parks={"p": park}, publish=publish, clock=lambda: T0)
    later = T0 + timedelta(seconds=5)
    await ingest.apply(Reading("p", "i", "sample", later, later, power_w=800.0, energy_wh=10.0, online=True))
    await ingest.apply(Reading("p", "i", "state", T0, T0, online=False))
    assert ingest.total_power_w() == 800.0
    await ingest.apply(Reading("p", "i", "state", later, later, online=False))
    assert ingest.total_power_w() == 0.0


async def test_the_receiving_instance_forwards_instead_of_applying() -> None:
    park = ParkSpec("p", "m", {"i": InverterSpec("i", 2000.0)})
    passed: list[object] = []

    async def publish(event: object) -> None:
        pass

    async def forward(item: object) -> None:
        passed.append(item)

    ingest = SolarIngest(parks={"p": park}, publish=publish, clock=lambda: T0, forward=forward)
    await ingest.handle(
        "coopgrid/solar/p/i/telemetry", b'{"ts": "2026-06-01T10:00:00Z", "ac_power_w": 5, "energy_wh": 1}'
    )
    await ingest.handle("coopgrid/solar/p/i/telemetry", b"\xff")
    assert passed == [
        Reading("p", "i", "sample", T0, T0, 5.0, 1.0, True),
        Rejected(T0, "coopgrid/solar/p/i/telemetry", "not_utf8", b"\xff"),
    ]
    assert ingest.total_power_w() == 0.0  # applied only when it comes back from the broker
    assert ingest.parsed == 2


@given(st.binary())
async def test_member_states_of_any_bytes_never_raise(payload: bytes) -> None:
    from gateway.bus import Bus
    from gateway.cluster import SharedIngest

    async def publish(event: object) -> None:
        pass

    solar = SolarIngest(parks={}, publish=publish, clock=lambda: T0)
    shared = SharedIngest(Bus("127.0.0.1", 1), solar, prefix="coopgrid", group="g", instance_id="a", client_id="c-a")
    await shared._on_member("coopgrid/cluster/members/b", payload)
    assert set(shared.members) <= {"b"}
    assert shared.adopted == {}  # not leading: nothing taken over


async def test_only_the_leader_takes_over_a_member_gone_offline() -> None:
    from gateway.bus import Bus
    from gateway.cluster import SharedIngest

    async def publish(event: object) -> None:
        pass

    leading = [False]
    solar = SolarIngest(parks={}, publish=publish, clock=lambda: T0)
    shared = SharedIngest(
        Bus("127.0.0.1", 1), solar, prefix="coopgrid", group="g", instance_id="a", client_id="c-a",
        leading=lambda: leading[0],
    )  # fmt: skip
    await shared._on_member("coopgrid/cluster/members/b", b'{"state": "offline", "client_id": "c-b"}')
    await shared._on_member("coopgrid/cluster/members/c", b'{"state": "left", "client_id": "c-c"}')
    assert shared.adopted == {}
    leading[0] = True
    shared._adopt = _no_adoption  # type: ignore[method-assign]  # the broker side is the integration test's
    shared.adopt_orphans()
    assert set(shared.adopted) == {"b"}
    await shared._on_member("coopgrid/cluster/members/b", b'{"state": "online", "client_id": "c-b"}')
    assert shared.adopted == {}  # back: taken over again should it go away again


async def _no_adoption(instance: str, client_id: str) -> None:
    pass


async def test_an_unreadable_reading_is_rejected_and_kept_aside() -> None:
    from gateway.bus import Bus
    from gateway.cluster import SharedIngest

    async def publish(event: object) -> None:
        pass

    solar = SolarIngest(parks={}, publish=publish, clock=lambda: T0)
    shared = SharedIngest(Bus("127.0.0.1", 1), solar, prefix="coopgrid", group="g", instance_id="a", client_id="c-a")
    topic, payload = "coopgrid/cluster/solar/readings", b'{"k": "gossip"}'
    await shared._on_reading(topic, payload)
    assert solar.rejects == {"unreadable_reading": 1}
    assert solar.rejected[-1] == Rejected(T0, topic, "unreadable_reading", payload)
