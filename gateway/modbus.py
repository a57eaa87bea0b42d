"""Modbus TCP polling (pymodbus): SunSpec inverters and grid meters, Eastron SDM630 meters.

The edge only: it connects, discovers (the sans-I/O `solar.sunspec.discover`), reads register blocks at
the configured interval and hands what `solar.sunspec` decoded to the same ingest as MQTT telemetry:
`SolarIngest.accept_polled` for inverters, `GridMeters.accept` for meters. A reading that cannot be
decoded (a register map that does not match, a scale factor out of range) is refused there, counted and
kept aside; a device that stops answering is simply not heard from, and the ingest's liveness (inverter
staleness, meter timeout) says so. Each poller is one task that reconnects on its own, with back-off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from gateway.settings import Settings
from solar.adapters import Partial, PayloadError
from solar.ingest import SolarIngest
from solar.meters import GridMeters, MeterPartial
from solar.sunspec import (
    METER_MODELS,
    SDM630_BLOCK,
    ModelRef,
    decode_inverter_chain,
    decode_inverter_model,
    decode_meter,
    decode_sdm630,
    discover,
    find,
    model_read,
)

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0


class NoAnswer(Exception):
    """The device did not answer a read (timeout, exception response, closed connection)."""


@dataclass(frozen=True, slots=True)
class Device:
    host: str
    port: int
    unit_id: int
    interval_s: float
    name: str  # for the log: "site s meter", "park p inverter i"


class Connection:
    """One Modbus TCP connection (an async context manager) with reads that raise NoAnswer."""

    def __init__(self, device: Device, timeout_s: float) -> None:
        # pymodbus is imported with the first device: an installation without one never loads it
        from pymodbus.client import AsyncModbusTcpClient  # noqa: PLC0415
        from pymodbus.exceptions import ModbusException  # noqa: PLC0415

        self.device = device
        self.client = AsyncModbusTcpClient(device.host, port=device.port, timeout=timeout_s, retries=0)
        self._failures: tuple[type[BaseException], ...] = (ModbusException, ConnectionError, TimeoutError, OSError)

    async def __aenter__(self) -> Connection:
        if not await self.client.connect():
            self.client.close()
            raise NoAnswer(f"no connection to {self.device.host}:{self.device.port}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.client.close()

    async def read(self, address: int, count: int, *, input_registers: bool = False) -> list[int]:
        read = self.client.read_input_registers if input_registers else self.client.read_holding_registers
        try:
            response = await read(address, count=count, device_id=self.device.unit_id)
        except self._failures as exc:
            raise NoAnswer(str(exc)) from exc
        if response.isError():
            raise NoAnswer(f"exception response {response}")
        registers = list(response.registers)
        if len(registers) < count:
            raise NoAnswer(f"{len(registers)} registers where {count} were asked")
        return registers

    async def discover(self) -> list[ModelRef]:
        """Walk the SunSpec chain; a read that fails while looking for the marker means: not at that base."""
        walk = discover()
        request = next(walk)
        while True:
            try:
                block: list[int] | None = await self.read(*request)
            except NoAnswer:
                block = None
            try:
                request = walk.send(block)
            except StopIteration as stop:
                return list(stop.value)


async def _poll_forever(
    device: Device, cycle: Callable[[Connection], Awaitable[None]], refuse: Callable[[str, str], Awaitable[None]]
) -> None:
    """Connect, run `cycle` every interval; on no answer reconnect with back-off; on a refused map, retry later."""
    backoff = device.interval_s
    reported = False
    while True:
        try:
            async with Connection(device, timeout_s=max(0.2, min(device.interval_s, 3.0))) as connection:
                await cycle(connection)
        except NoAnswer as exc:
            if not reported:
                log.warning("modbus: %s at %s:%d not answering (%s)", device.name, device.host, device.port, exc)
                reported = True
        except PayloadError as exc:  # a register map that does not match: counted, tried again later
            await refuse(exc.reason, str(exc))
        else:
            continue
        await asyncio.sleep(backoff)
        backoff = min(MAX_BACKOFF_S, backoff * 2)


async def poll_sunspec_meter(device: Device, meters: GridMeters, site_id: str) -> None:
    """A SunSpec meter (201-204): discover once per connection, then read its model every interval."""

    async def cycle(connection: Connection) -> None:
        model = find(await connection.discover(), METER_MODELS)
        log.info("modbus: %s: SunSpec model %d at %d", device.name, model.id, model.address)
        while True:
            values = decode_meter(model, await connection.read(*model_read(model)))
            await meters.accept(site_id, MeterPartial(values.current_a, values.power_w, values.energy_wh))
            await asyncio.sleep(device.interval_s)

    await _poll_forever(device, cycle, lambda reason, detail: meters.refuse(site_id, reason, detail))


async def poll_sdm630(device: Device, meters: GridMeters, site_id: str) -> None:
    """An Eastron SDM630: one block of input registers every interval."""

    async def cycle(connection: Connection) -> None:
        while True:
            values = decode_sdm630(await connection.read(*SDM630_BLOCK, input_registers=True))
            await meters.accept(site_id, MeterPartial(values.current_a, values.power_w, values.energy_wh))
            await asyncio.sleep(device.interval_s)

    await _poll_forever(device, cycle, lambda reason, detail: meters.refuse(site_id, reason, detail))


async def poll_sunspec_inverter(device: Device, solar: SolarIngest, park_id: str, inverter_id: str) -> None:
    """A SunSpec inverter (101-103, else 701) into the solar ingest, like its MQTT telemetry."""

    async def cycle(connection: Connection) -> None:
        model = decode_inverter_chain(await connection.discover())
        log.info("modbus: %s: SunSpec model %d at %d", device.name, model.id, model.address)
        while True:
            values = decode_inverter_model(model, await connection.read(*model_read(model)))
            partial = Partial(power_w=values.power_w, energy_wh=values.energy_wh, online=values.online)
            await solar.accept_polled(park_id, inverter_id, partial)
            await asyncio.sleep(device.interval_s)

    await _poll_forever(device, cycle, lambda reason, detail: solar.refuse_polled(park_id, inverter_id, reason, detail))


def poll_tasks(settings: Settings, meters: GridMeters, solar: SolarIngest) -> dict[str, Coroutine[Any, Any, None]]:
    """One polling task per Modbus device in the configuration, by task name."""
    tasks: dict[str, Coroutine[Any, Any, None]] = {}
    for site in settings.sites:
        meter = site.meter
        if meter is None or meter.host is None or meter.layout not in ("sunspec", "sdm630"):
            continue
        device = Device(meter.host, meter.port, meter.unit_id, meter.interval_s, f"site {site.id} meter")
        poll = poll_sunspec_meter if meter.layout == "sunspec" else poll_sdm630
        tasks[f"modbus-meter-{site.id}"] = poll(device, meters, site.id)
    for park in settings.parks:
        for inverter in park.inverters:
            if inverter.adapter != "modbus_sunspec" or inverter.host is None:
                continue
            name = f"park {park.id} inverter {inverter.id}"
            device = Device(inverter.host, inverter.port, inverter.unit_id, inverter.interval_s, name)
            tasks[f"modbus-inverter-{park.id}-{inverter.id}"] = poll_sunspec_inverter(
                device, solar, park.id, inverter.id
            )
    return tasks
