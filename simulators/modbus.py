"""Modbus TCP devices as pymodbus servers on loopback: a SunSpec inverter, a SunSpec grid meter, an SDM630.

Black boxes, written from the register maps and not from CoopGrid's decoder, so that drift shows:
- `SunSpecInverter`: the `SunS` marker, common model 1, inverter model 101-103 (or 701), driven by the
  pvlib park model of `simulators.inverter` on the simulated clock (power, and the Wh counter it adds up);
- `SunSpecMeter`: marker, model 1, meter model 201-204, the site's load (`SiteLoad`: a base per phase and
  steps) plus what the chargers draw (a callable);
- `Sdm630Meter`: the same load as an Eastron SDM630 (float32 input registers, high word first).

Faults for tests: `silent` (requests hang: the device stops answering), `glitch_a` (a current added to
L1, e.g. out of range), `wrong_model` (the meter model id replaced: a register map that does not match).
Values are computed when a request reads them, from the clock: no background task.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from simulators.clock import SimClock
from simulators.inverter import park_power_w

SPACE = 50_400  # registers 0..50399: room for a SunSpec map at 0, 40000 or 50000
SUNS = (0x5375, 0x6E53)
END_MODEL = (0xFFFF, 0)
NOT_IMPLEMENTED = 0x8000


def _u16(value: int) -> int:
    return value & 0xFFFF


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def common_model(manufacturer: str, model: str, serial: str) -> list[int]:
    """SunSpec model 1 (66 registers): manufacturer, model, options, version, serial (strings), device address."""

    def text(value: str, registers: int) -> list[int]:
        raw = value.encode("ascii")[: registers * 2].ljust(registers * 2, b"\0")
        return list(struct.unpack(f">{registers}H", raw))

    return [*text(manufacturer, 16), *text(model, 16), *text("", 8), *text("1.0", 8), *text(serial, 16), 1, 0]


class ModbusDevice:
    """A pymodbus TCP server on 127.0.0.1 whose registers `refresh()` writes just before each read."""

    def __init__(self, *, port: int = 0, unit_id: int = 1) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.unit_id = unit_id
        self.registers: dict[int, int] = {}
        self.silent = False
        self.reads = 0
        self._speaking = asyncio.Event()
        self._speaking.set()
        device = SimDevice(
            unit_id, simdata=[SimData(0, count=SPACE, values=0, datatype=DataType.REGISTERS)], action=self._action
        )
        self._server = ModbusTcpServer(device, address=(self.host, self.port))
        self._task: asyncio.Task[None] | None = None

    def refresh(self) -> None:
        """Write the current values into `registers` (subclasses)."""

    def set_silent(self, silent: bool) -> None:
        self.silent = silent
        if silent:
            self._speaking.clear()
        else:
            self._speaking.set()

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        await self._speaking.wait()  # a silent device keeps its clients waiting until they time out
        if set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION  # read-only devices
        self.reads += 1
        self.refresh()
        for index in range(len(current)):
            current[index] = self.registers.get(start_address + index, 0)
        return None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._server.serve_forever(), name=f"modbus-sim-{self.port}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while loop.time() < deadline:
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return self
        raise RuntimeError(f"modbus simulator did not listen on {self.port}")

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.set_silent(False)
        await self._server.shutdown()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def serve(self) -> None:
        """Run until cancelled (the CLI)."""
        async with self:
            await asyncio.Event().wait()


def _write_chain(registers: dict[int, int], base: int, models: Sequence[tuple[int, Sequence[int]]]) -> dict[int, int]:
    """The SunSpec map at `base`; returns each model's first point address by model id."""
    registers[base], registers[base + 1] = SUNS
    address, starts = base + 2, {}
    for model_id, body in models:
        registers[address], registers[address + 1] = model_id, len(body)
        starts[model_id] = address + 2
        for offset, value in enumerate(body):
            registers[address + 2 + offset] = _u16(value)
        address += 2 + len(body)
    registers[address], registers[address + 1] = END_MODEL
    return starts


# -- the site's load ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadStep:
    at_s: float  # simulated seconds from the start
    phase: int  # 0, 1, 2
    current_a: float
    duration_s: float = float("inf")


@dataclass(slots=True)
class SiteLoad:
    """The building: a base current per phase and steps (a heat pump, a kitchen, a lift) on the clock."""

    clock: SimClock
    base_a: tuple[float, float, float] = (10.0, 10.0, 10.0)
    steps: list[LoadStep] = field(default_factory=list)

    def current_a(self) -> tuple[float, float, float]:
        now = self.clock.elapsed_s()
        phases = list(self.base_a)
        for step in self.steps:
            if step.at_s <= now < step.at_s + step.duration_s:
                phases[step.phase] += step.current_a
        return phases[0], phases[1], phases[2]

    def step(self, phase: int, current_a: float, duration_s: float = float("inf")) -> None:
        """A step starting now."""
        self.steps.append(LoadStep(self.clock.elapsed_s(), phase, current_a, duration_s))

    def clear(self) -> None:
        self.steps.clear()


Draw = Callable[[], Sequence[float]]


def _no_chargers() -> Sequence[float]:
    return (0.0, 0.0, 0.0)


class _Meter(ModbusDevice):
    def __init__(self, load: SiteLoad, chargers_a: Draw = _no_chargers, *, voltage_v: float = 230.0, **kw: int) -> None:
        super().__init__(**kw)
        self.load = load
        self.chargers_a = chargers_a
        self.voltage_v = voltage_v
        self.glitch_a = 0.0
        self.energy_wh = 0.0
        self._last_s: float | None = None

    def phases(self) -> tuple[list[float], float]:
        """The currents of the three phases and the total power; the import counter advanced to now."""
        building, chargers = self.load.current_a(), self.chargers_a()
        currents = [b + c for b, c in zip(building, chargers, strict=True)]
        currents[0] += self.glitch_a
        power = sum(currents) * self.voltage_v
        now = self.load.clock.elapsed_s()
        if self._last_s is not None and power > 0:
            self.energy_wh += power * (now - self._last_s) / 3600
        self._last_s = now
        return currents, power


class SunSpecMeter(_Meter):
    """A SunSpec meter (model 203 by default, integer + scale factors: A_SF -2 up to 327 A in all, then -1;
    W_SF 1, TotWh_SF 0)."""

    def __init__(
        self, load: SiteLoad, chargers_a: Draw = _no_chargers, *, model: int = 203, base: int = 40000, **kw: int
    ) -> None:
        super().__init__(load, chargers_a, **kw)
        self.model = model
        self.base = base
        self.wrong_model: int | None = None

    def refresh(self) -> None:
        currents, power = self.phases()
        body = [NOT_IMPLEMENTED] * 105
        phases = {201: 1, 202: 2}.get(self.model, 3)
        power = sum(currents[:phases]) * self.voltage_v  # what the meter's own phases carry
        a_sf = next(sf for sf in (-2, -1, 0, 1) if sum(abs(c) for c in currents[:phases]) < 32767 * 10.0**sf)
        scaled = [round(c / 10.0**a_sf) for c in currents[:phases]]  # as a real meter: its A_SF fits its range
        body[0] = sum(scaled)
        body[1 : 1 + phases] = scaled
        body[4] = _u16(a_sf)  # A_SF
        body[5], body[13] = round(self.voltage_v * 10), _u16(-1)  # PhV, V_SF
        body[14], body[15] = 5000, _u16(-2)  # Hz
        body[16], body[20] = round(power / 10), 1  # W, W_SF
        wh = int(self.energy_wh)
        body[36], body[37] = 0, 0  # TotWhExp: none
        body[44], body[45], body[52] = (wh >> 16) & 0xFFFF, wh & 0xFFFF, 0  # TotWhImp, TotWh_SF
        self.registers.clear()
        model_id = self.wrong_model if self.wrong_model is not None else self.model
        _write_chain(self.registers, self.base, [(1, common_model("CoopGrid", "SimMeter", "M-1")), (model_id, body)])


class Sdm630Meter(_Meter):
    """An Eastron SDM630: float32 input registers (voltages 0-5, currents 6-11, total W 52, import kWh 72)."""

    def refresh(self) -> None:
        currents, power = self.phases()
        values = {0: self.voltage_v, 2: self.voltage_v, 4: self.voltage_v, 52: power, 70: 50.0}
        values |= {6: currents[0], 8: currents[1], 10: currents[2], 72: self.energy_wh / 1000}
        for n in range(3):
            values[12 + 2 * n] = currents[n] * self.voltage_v
        self.registers.clear()
        for address, value in values.items():
            self.registers[address], self.registers[address + 1] = struct.unpack(">HH", struct.pack(">f", value))


class SunSpecInverter(ModbusDevice):
    """A SunSpec PV inverter on the pvlib model: model 103 (or 101/102, or 701), W_SF 0 or 1, WH_SF 0."""

    def __init__(
        self,
        clock: SimClock,
        *,
        rated_power_w: float = 5000.0,
        location: str = "greensboro",
        model: int = 103,
        base: int = 40000,
        **kw: int,
    ) -> None:
        super().__init__(**kw)
        self.clock = clock
        self.rated_power_w = rated_power_w
        self.location = location
        self.model = model
        self.base = base
        self.energy_wh = 0.0
        self.power_w = 0.0
        self.fault = False
        self._last_s: float | None = None

    def refresh(self) -> None:
        now = self.clock.elapsed_s()
        self.power_w = 0.0 if self.fault else park_power_w(self.clock.now(), self.rated_power_w, self.location)
        if self._last_s is not None:
            self.energy_wh += self.power_w * (now - self._last_s) / 3600
        self._last_s = now
        w_sf = 1 if self.rated_power_w * 1.2 > 32767 else 0
        watts = round(self.power_w / 10**w_sf)
        state = 7 if self.fault else (4 if self.power_w > 0 else 2)  # fault, MPPT, sleeping
        wh = int(self.energy_wh)
        if self.model == 701:
            body = [0] * 153
            body[0], body[1], body[3] = 3, (2 if self.fault else 1), 1  # ACType WYE, St on/fault, ConnSt
            body[8], body[111], body[115] = watts, w_sf, 0  # W, W_SF, TotWh_SF
            body[17:21] = [(wh >> shift) & 0xFFFF for shift in (48, 32, 16, 0)]  # TotWhInj
        else:
            body = [0xFFFF] * 50
            amps = round(self.power_w / 230 * 10)
            body[0:5] = [amps, amps, 0xFFFF, 0xFFFF, _u16(-1)]
            body[12], body[13] = watts, w_sf  # W, W_SF
            body[14], body[15] = 5000, _u16(-2)  # Hz
            body[22], body[23], body[24] = (wh >> 16) & 0xFFFF, wh & 0xFFFF, 0  # WH, WH_SF
            body[29], body[30] = round(self.power_w * 1.03 / 10**w_sf), w_sf  # DCW, DCW_SF
            body[36] = state  # St
        self.registers.clear()
        _write_chain(
            self.registers, self.base, [(1, common_model("CoopGrid", "SimInverter", "I-1")), (self.model, body)]
        )
