"""SunSpec and SDM630 decoding from register images (pure), with hypothesis over chains, values and scale factors."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from solar.adapters import PayloadError
from solar.sunspec import (
    BASES,
    ModelRef,
    decode_der_ac,
    decode_inverter,
    decode_meter,
    decode_sdm630,
    discover,
    find,
    model_read,
)


def u16(value: int) -> int:
    return value & 0xFFFF


def image(base: int, models: Sequence[tuple[int, list[int]]]) -> dict[int, int]:
    """A device's holding registers: the marker at base, the models, the end model."""
    regs = {base: 0x5375, base + 1: 0x6E53}
    address = base + 2
    for model_id, body in models:
        regs[address], regs[address + 1] = model_id, len(body)
        for offset, value in enumerate(body):
            regs[address + 2 + offset] = value
        address += 2 + len(body)
    regs[address], regs[address + 1] = 0xFFFF, 0
    return regs


def run_discovery(regs: dict[int, int]) -> list[ModelRef]:
    gen = discover()
    request = next(gen)
    while True:
        address, count = request
        block = [regs[a] for a in range(address, address + count)] if address in regs else None
        try:
            request = gen.send(block)
        except StopIteration as stop:
            return list(stop.value)


def meter_body(model_id: int, amps: Sequence[int], a_sf: int, watts: int, w_sf: int, wh: int, wh_sf: int) -> list[int]:
    body = [0x8000] * 105
    body[0] = u16(sum(amps))
    for n, a in enumerate(amps):
        body[1 + n] = u16(a)
    body[4], body[16], body[20] = u16(a_sf), u16(watts), u16(w_sf)
    body[44], body[45], body[52] = wh >> 16, wh & 0xFFFF, u16(wh_sf)
    return body


def inverter_body(watts: int, w_sf: int, wh: int, wh_sf: int, state: int) -> list[int]:
    body = [0xFFFF] * 50
    body[12], body[13], body[22], body[23], body[24] = u16(watts), u16(w_sf), wh >> 16, wh & 0xFFFF, u16(wh_sf)
    body[29], body[30], body[36] = 0x8000, 0, state
    return body


COMMON = (1, [0] * 66)
sfs = st.integers(-3, 3)


@pytest.mark.parametrize("base", BASES)
def test_discovery_at_each_base(base: int) -> None:
    regs = image(base, [COMMON, (203, meter_body(203, [1, 2, 3], 0, 10, 0, 5, 0))])
    assert run_discovery(regs) == [ModelRef(1, base + 4, 66), ModelRef(203, base + 4 + 66 + 2, 105)]


def test_no_marker() -> None:
    with pytest.raises(PayloadError, match="no_sunspec_marker"):
        run_discovery({40000: 1, 40001: 2})


@given(
    chain=st.lists(st.tuples(st.integers(1, 0xFFFE), st.integers(0, 40)), max_size=10),
    base=st.sampled_from(BASES),
)
def test_discovery_walks_any_chain(chain: list[tuple[int, int]], base: int) -> None:
    regs = image(base, [(model_id, [7] * length) for model_id, length in chain])
    found = run_discovery(regs)
    assert [(m.id, m.length) for m in found] == chain
    for model in found:
        assert regs[model.address - 2] == model.id


@given(
    model_id=st.sampled_from([201, 202, 203, 204]),
    amps=st.lists(st.integers(-3000, 3000), min_size=3, max_size=3),
    a_sf=sfs,
    watts=st.integers(-30000, 30000),
    w_sf=sfs,
    wh=st.integers(1, 2**32 - 1),
    wh_sf=sfs,
)
def test_meter_models_with_scale_factors(
    model_id: int, amps: list[int], a_sf: int, watts: int, w_sf: int, wh: int, wh_sf: int
) -> None:
    body = meter_body(model_id, amps, a_sf, watts, w_sf, wh, wh_sf)
    values = decode_meter(ModelRef(model_id, 0, 105), body)
    phases = {201: 1, 202: 2}.get(model_id, 3)
    for n in range(3):
        if n < phases:
            assert values.current_a[n] == pytest.approx(amps[n] * 10.0**a_sf)
        else:
            assert values.current_a[n] == 0.0  # a phase the model does not have
    assert values.power_w == pytest.approx(watts * 10.0**w_sf)
    assert values.energy_wh == pytest.approx(wh * 10.0**wh_sf)


def test_unimplemented_points_read_none() -> None:
    body = meter_body(203, [0x8000 - 0x10000] * 3, 0, 0x8000 - 0x10000, 0, 0, 0)
    values = decode_meter(ModelRef(203, 0, 105), body)
    assert values.current_a == (None, None, None)
    assert values.power_w is None
    assert values.energy_wh is None


@given(watts=st.integers(0, 30000), w_sf=sfs, wh=st.integers(1, 2**32 - 1), wh_sf=sfs, state=st.integers(1, 7))
def test_inverter_models(watts: int, w_sf: int, wh: int, wh_sf: int, state: int) -> None:
    values = decode_inverter(ModelRef(103, 0, 50), inverter_body(watts, w_sf, wh, wh_sf, state))
    assert values.power_w == pytest.approx(watts * 10.0**w_sf)
    assert values.energy_wh == pytest.approx(wh * 10.0**wh_sf)
    assert values.dc_power_w is None
    assert values.online is (state not in (1, 7))


@given(watts=st.integers(-30000, 30000), w_sf=sfs, wh=st.integers(1, 2**63), wh_sf=sfs, state=st.integers(0, 2))
def test_der_ac_model(watts: int, w_sf: int, wh: int, wh_sf: int, state: int) -> None:
    body = [0] * 153
    body[1], body[8], body[111], body[115] = state, u16(watts), u16(w_sf), u16(wh_sf)
    body[17:21] = [(wh >> shift) & 0xFFFF for shift in (48, 32, 16, 0)]
    values = decode_der_ac(ModelRef(701, 0, 153), body)
    assert values.power_w == pytest.approx(watts * 10.0**w_sf)
    assert values.energy_wh == pytest.approx(wh * 10.0**wh_sf)
    assert values.online is (state == 1)


@given(raw=st.integers(0, 0xFFFF))
def test_scale_factors_out_of_range_are_a_mismatch(raw: int) -> None:
    body = meter_body(203, [1, 2, 3], 0, 10, 0, 5, 0)
    body[4] = raw
    signed = raw - 0x10000 if raw & 0x8000 else raw
    if -10 <= signed <= 10:
        assert decode_meter(ModelRef(203, 0, 105), body).current_a[0] == pytest.approx(10.0**signed)
    else:
        with pytest.raises(PayloadError, match="invalid_scale_factor"):
            decode_meter(ModelRef(203, 0, 105), body)


def test_a_map_that_does_not_match() -> None:
    with pytest.raises(PayloadError, match="model_mismatch"):
        find([ModelRef(1, 2, 66), ModelRef(103, 70, 50)], (201, 202, 203, 204))
    with pytest.raises(PayloadError, match="model_mismatch"):
        decode_meter(ModelRef(203, 0, 40), [0] * 40)  # too short for a 203
    with pytest.raises(PayloadError, match="model_mismatch"):
        decode_inverter(ModelRef(203, 0, 105), [0] * 105)
    assert model_read(ModelRef(203, 40071, 105)) == (40071, 105)
    assert model_read(ModelRef(701, 40000, 153)) == (40000, 118)


def sdm_block(volts: Sequence[float], amps: Sequence[float], watts: float, kwh: float) -> list[int]:
    regs = [0] * 76
    for at, value in [*zip((0, 2, 4), volts, strict=True), *zip((6, 8, 10), amps, strict=True), (52, watts), (72, kwh)]:
        regs[at], regs[at + 1] = struct.unpack(">HH", struct.pack(">f", value))
    return regs


@given(
    volts=st.lists(st.floats(0, 500, width=32), min_size=3, max_size=3),
    amps=st.lists(st.floats(-100, 100, width=32), min_size=3, max_size=3),
    watts=st.floats(-1e5, 1e5, width=32),
    kwh=st.floats(0, 1e7, width=32),
)
def test_sdm630(volts: list[float], amps: list[float], watts: float, kwh: float) -> None:
    values = decode_sdm630(sdm_block(volts, amps, watts, kwh))
    assert values.current_a == tuple(amps)
    assert values.power_w == watts
    assert values.energy_wh == pytest.approx(kwh * 1000)


@given(regs=st.lists(st.integers(0, 0xFFFF), min_size=76, max_size=76))
def test_sdm630_on_any_registers(regs: list[int]) -> None:
    try:
        values = decode_sdm630(regs)
    except PayloadError as exc:
        assert exc.reason == "register_map_mismatch"  # noqa: PT017
    else:
        assert all(c is not None for c in values.current_a)


def test_sdm630_mismatch() -> None:
    with pytest.raises(PayloadError, match="register_map_mismatch"):
        decode_sdm630(sdm_block([230.0, 9000.0, 230.0], [1, 2, 3], 100, 5))  # no SDM630 voltage
    with pytest.raises(PayloadError, match="register_map_mismatch"):
        decode_sdm630([0] * 10)
