"""SunSpec and Eastron SDM630 register decoding: register blocks in, readings out. Pure: no sockets, no clock.

Discovery is a sans-I/O generator (`discover`): it yields the register reads it needs, `(address, count)`,
is sent each read's registers (or None when the read failed) and returns the model chain it found. The
Modbus client in the gateway drives it; tests drive it from a register image.

SunSpec (value = raw x 10^SF): the `SunS` marker (0x5375 0x6E53) at 40000, 50000 or 0, then models as
`ID, L, L registers of points`, ending with ID 0xFFFF. Unimplemented points read 0x8000 (int16, sunssf),
0xFFFF (uint16) or 0 (acc32). Decoded here:
- meters 201-204 (single phase, split phase, wye, delta; integer + scale factors): A, AphA..C, W, TotWhImp
  (the phases a model does not have read 0 A);
- inverters 101-103 (single, split, three phase): W, WH, DCW, St; and 701 (DER AC measurement) where present.

Eastron SDM630 (input registers, IEEE-754 float32, high word first): phase currents at 6/8/10, total
power at 52, total import kWh at 72; `SDM630_BLOCK` is the one read that covers them.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Generator, Sequence
from dataclasses import dataclass

from solar.adapters import PayloadError

MARKER = (0x5375, 0x6E53)  # "SunS"
BASES = (40000, 50000, 0)
END = 0xFFFF
INT16_NONE = 0x8000
UINT16_NONE = 0xFFFF
METER_MODELS = (201, 202, 203, 204)
INVERTER_MODELS = (101, 102, 103)
DER_AC_MODEL = 701
METER_LENGTH = 105  # the 2xx integer meter models
INVERTER_LENGTH = 50  # the 10x integer inverter models
DER_AC_MIN_LENGTH = 118  # 701 up to its scale factors
MAX_MODELS = 64  # a chain longer than this is not a SunSpec device's


@dataclass(frozen=True, slots=True)
class ModelRef:
    """One model of the chain: its id, the address of its first point (after ID and L) and its length."""

    id: int
    address: int
    length: int


ReadRequest = tuple[int, int]


def discover() -> Generator[ReadRequest, Sequence[int] | None, list[ModelRef]]:
    """Find the marker at each base address in turn, then walk the model chain to its end."""
    for base in BASES:
        marker = yield (base, 2)
        if marker is None or tuple(marker[:2]) != MARKER:
            continue
        models: list[ModelRef] = []
        address = base + 2
        while len(models) < MAX_MODELS:
            header = yield (address, 2)
            if header is None or len(header) < 2 or header[0] == END:
                break  # a device that ends its chain without 0xFFFF (it cannot be read further) ends it there
            model_id, length = header[0], header[1]
            models.append(ModelRef(model_id, address + 2, length))
            address += 2 + length
        return models
    raise PayloadError("no_sunspec_marker", f"no SunS marker at {', '.join(map(str, BASES))}")


def find(models: Sequence[ModelRef], wanted: Sequence[int]) -> ModelRef:
    """The first model of the chain among `wanted` (a model chain without one does not match)."""
    for model in models:
        if model.id in wanted:
            return model
    found = ", ".join(str(m.id) for m in models) or "none"
    raise PayloadError("model_mismatch", f"no model {'/'.join(map(str, wanted))} in the chain (found: {found})")


# -- point types -----------------------------------------------------------------------------------------


def _int16(raw: int) -> int | None:
    return None if raw == INT16_NONE else (raw - 0x10000 if raw & 0x8000 else raw)


def _uint16(raw: int) -> int | None:
    return None if raw == UINT16_NONE else raw


def _acc32(high: int, low: int) -> int | None:
    value = (high << 16) | low
    return None if value == 0 else value


def _uint32(high: int, low: int) -> int | None:
    value = (high << 16) | low
    return None if value == 0xFFFFFFFF else value


def _uint64(words: Sequence[int]) -> int | None:
    value = 0
    for word in words:
        value = (value << 16) | word
    return None if value == 0xFFFFFFFFFFFFFFFF else value


def scale_factor(raw: int, name: str) -> int:
    """A sunssf: -10..10 (0x8000 or anything else: the map does not match)."""
    value = _int16(raw)
    if value is None or not -10 <= value <= 10:
        raise PayloadError("invalid_scale_factor", f"{name} = {raw:#06x}")
    return value


def _scaled(value: int | None, sf: int) -> float | None:
    return None if value is None else value * 10.0**sf


def _check(registers: Sequence[int], model: ModelRef, minimum: int) -> None:
    if model.length < minimum or len(registers) < minimum:
        raise PayloadError(
            "model_mismatch", f"model {model.id}: {min(model.length, len(registers))} registers, {minimum} needed"
        )
    if any(not 0 <= r <= 0xFFFF for r in registers[:minimum]):
        raise PayloadError("not_registers")


# -- readings --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeterValues:
    current_a: tuple[float | None, float | None, float | None]
    power_w: float | None
    energy_wh: float | None


@dataclass(frozen=True, slots=True)
class InverterValues:
    power_w: float | None
    energy_wh: float | None
    dc_power_w: float | None = None
    state: int | None = None  # SunSpec St: 1 off, 2 sleeping, 3 starting, 4 MPPT, 5 throttled, 6 shutting down, 7 fault

    @property
    def online(self) -> bool | None:
        return None if self.state is None else self.state not in (1, 7)


def decode_meter(model: ModelRef, registers: Sequence[int]) -> MeterValues:
    """A 201-204 meter model's points (registers from the model's first point)."""
    if model.id not in METER_MODELS:
        raise PayloadError("model_mismatch", f"model {model.id} is not a meter model (201-204)")
    _check(registers, model, METER_LENGTH)
    r = registers
    a_sf, w_sf, wh_sf = scale_factor(r[4], "A_SF"), scale_factor(r[20], "W_SF"), scale_factor(r[52], "TotWh_SF")
    phases = {201: 1, 202: 2}.get(model.id, 3)
    # the phases a model has not (201: L2, L3; 202: L3) carry nothing: 0 A, so a site's phases are all known
    currents: list[float | None] = [_scaled(_int16(r[1 + n]), a_sf) if n < phases else 0.0 for n in range(3)]
    if currents[0] is None and phases == 1:
        currents[0] = _scaled(_int16(r[0]), a_sf)  # a single-phase meter may give only the total
    return MeterValues(
        (currents[0], currents[1], currents[2]),
        _scaled(_int16(r[16]), w_sf),
        _scaled(_acc32(r[44], r[45]), wh_sf),
    )


def decode_inverter(model: ModelRef, registers: Sequence[int]) -> InverterValues:
    """A 101-103 inverter model's points."""
    if model.id not in INVERTER_MODELS:
        raise PayloadError("model_mismatch", f"model {model.id} is not an inverter model (101-103)")
    _check(registers, model, INVERTER_LENGTH)
    r = registers
    w_sf, wh_sf, dcw_sf = scale_factor(r[13], "W_SF"), scale_factor(r[24], "WH_SF"), scale_factor(r[30], "DCW_SF")
    return InverterValues(
        power_w=_scaled(_int16(r[12]), w_sf),
        energy_wh=_scaled(_acc32(r[22], r[23]), wh_sf),
        dc_power_w=_scaled(_int16(r[29]), dcw_sf),
        state=_uint16(r[36]),
    )


# 701 (DER AC measurement): the points this module reads, as offsets from the model's first point
_701_ST, _701_W, _701_TOTWHINJ, _701_W_SF, _701_TOTWH_SF = 1, 8, 17, 111, 115
_701_STATES = {0: 1, 1: 4, 2: 7}  # 701 St (0 off, 1 on, 2 fault) as the 10x St the ingest reads


def decode_der_ac(model: ModelRef, registers: Sequence[int]) -> InverterValues:
    """A 701 (DER AC measurement) model's power, injected energy and state."""
    if model.id != DER_AC_MODEL:
        raise PayloadError("model_mismatch", f"model {model.id} is not 701")
    _check(registers, model, DER_AC_MIN_LENGTH)
    r = registers
    w_sf, wh_sf = scale_factor(r[_701_W_SF], "W_SF"), scale_factor(r[_701_TOTWH_SF], "TotWh_SF")
    state = _uint16(r[_701_ST])
    return InverterValues(
        power_w=_scaled(_int16(r[_701_W]), w_sf),
        energy_wh=_scaled(_uint64(r[_701_TOTWHINJ : _701_TOTWHINJ + 4]), wh_sf),
        state=None if state is None else _701_STATES.get(state, 7),
    )


def decode_inverter_chain(models: Sequence[ModelRef]) -> ModelRef:
    """The model an inverter is read from: 101-103, else 701."""
    return find(models, (*INVERTER_MODELS, DER_AC_MODEL))


def decode_inverter_model(model: ModelRef, registers: Sequence[int]) -> InverterValues:
    return decode_der_ac(model, registers) if model.id == DER_AC_MODEL else decode_inverter(model, registers)


_NEEDED = {
    **dict.fromkeys(METER_MODELS, METER_LENGTH),
    **dict.fromkeys(INVERTER_MODELS, INVERTER_LENGTH),
    DER_AC_MODEL: DER_AC_MIN_LENGTH,
}


def model_read(model: ModelRef) -> ReadRequest:
    """The read that covers what this module decodes of a model (at most 125 registers: one Modbus read)."""
    return model.address, max(1, min(model.length, _NEEDED.get(model.id, model.length), 125))


# -- Eastron SDM630 ----------------------------------------------------------------------------------------

SDM630_BLOCK: ReadRequest = (0, 76)  # input registers 0x0000-0x004B
_SDM_VOLTS, _SDM_CURRENTS, _SDM_POWER, _SDM_IMPORT_KWH = (0, 2, 4), (6, 8, 10), 52, 72
SDM_MAX_VOLTS = 500.0


def _float32(registers: Sequence[int], at: int) -> float:
    high, low = registers[at], registers[at + 1]
    if not (0 <= high <= 0xFFFF and 0 <= low <= 0xFFFF):
        raise PayloadError("not_registers")
    value: float = struct.unpack(">f", struct.pack(">HH", high, low))[0]
    return value


def decode_sdm630(registers: Sequence[int]) -> MeterValues:
    """An SDM630's block at SDM630_BLOCK. Voltages that are no voltages mean another register map."""
    if len(registers) < SDM630_BLOCK[1]:
        raise PayloadError("register_map_mismatch", f"{len(registers)} registers, {SDM630_BLOCK[1]} needed")
    volts = [_float32(registers, at) for at in _SDM_VOLTS]
    if any(not (math.isfinite(v) and 0 <= v <= SDM_MAX_VOLTS) for v in volts):
        raise PayloadError("register_map_mismatch", f"phase voltages {volts} are not an SDM630's")
    currents = [_float32(registers, at) for at in _SDM_CURRENTS]
    power, energy_kwh = _float32(registers, _SDM_POWER), _float32(registers, _SDM_IMPORT_KWH)
    values = [*currents, power, energy_kwh]
    if any(not math.isfinite(v) for v in values):
        raise PayloadError("register_map_mismatch", "a value is not a finite number")
    return MeterValues((currents[0], currents[1], currents[2]), power, energy_kwh * 1000.0)
