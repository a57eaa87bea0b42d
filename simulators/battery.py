"""A simulated stationary battery: state of charge integrated from the power it follows, over MQTT.

The model (`BatteryModel`, no I/O) follows its setpoint within its power limits and its state-of-charge
bounds, with the round-trip efficiency split evenly over charging and discharging (the AC side is what
it is asked for and reports); a setpoint that expires (native: its `valid_s`; Victron: 60 s without a new
one) leaves it idle. `SimulatedBattery` publishes it in the native layout, in Victron's dbus-mqtt layout,
or in both at once, and takes setpoints from both:

- native: `{prefix}/batteries/{site}/{id}/telemetry` `{"ts", "soc_pct", "power_w", "voltage_v"}`,
  `.../state` `online`/`offline` (retained, its last will), setpoints on `.../setpoint`
  `{"ts", "power_w", "valid_s"}`;
- victron: `N/{portal}/battery/{instance}/Soc`, `/Dc/0/Power`, `/Dc/0/Voltage` as `{"value": x}`,
  setpoints on `W/{portal}/vebus/{vebus}/Hub4/L1..L3/AcPowerSetpoint` `{"value": W}` (summed over phases).

It imports no server code (the wire is the contract).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from simulators.clock import SimClock
from simulators.tasks import honour_cancellation

log = logging.getLogger(__name__)

BATTERY_LAYOUTS = ("native", "victron", "both")
VICTRON_HOLD_S = 60.0  # a Victron setpoint, not refreshed, lapses after this long (simulated seconds)
NOMINAL_V = 51.2  # a 16-cell LFP pack: the voltage rises with the state of charge around this


@dataclass(slots=True)
class BatteryModel:
    """Energy in Wh on the cell side; power in W on the AC side (+ charging)."""

    capacity_wh: float
    max_charge_w: float
    max_discharge_w: float
    round_trip_efficiency: float = 0.9
    soc: float = 0.5
    soc_min: float = 0.05
    soc_max: float = 1.0
    setpoint_w: float = 0.0
    setpoint_until_s: float | None = None  # simulated time the setpoint lapses (None: no setpoint)
    power_w: float = 0.0  # what it did in the last step
    charged_wh: float = 0.0  # AC side, lifetime
    discharged_wh: float = 0.0

    def __post_init__(self) -> None:
        if not self.capacity_wh > 0 or not 0 < self.round_trip_efficiency <= 1:
            raise ValueError("capacity_wh must be > 0 and round_trip_efficiency in (0, 1]")
        if not 0 <= self.soc_min <= self.soc <= self.soc_max <= 1:
            raise ValueError("need 0 <= soc_min <= soc <= soc_max <= 1")

    def follow(self, power_w: float, now_s: float, valid_s: float) -> None:
        if math.isfinite(power_w) and math.isfinite(valid_s) and valid_s > 0:
            self.setpoint_w, self.setpoint_until_s = power_w, now_s + valid_s

    def step(self, now_s: float, dt_s: float) -> float:
        """Advance dt_s ending at now_s; returns the AC power it ran at."""
        active = self.setpoint_until_s is not None and now_s <= self.setpoint_until_s
        target = self.setpoint_w if active else 0.0
        target = max(-self.max_discharge_w, min(self.max_charge_w, target))
        eta = math.sqrt(self.round_trip_efficiency)
        hours = max(0.0, dt_s) / 3600.0
        if hours > 0 and target > 0:
            room_wh = max(0.0, (self.soc_max - self.soc) * self.capacity_wh)
            target = min(target, room_wh / (eta * hours))
        elif hours > 0 and target < 0:
            stored_wh = max(0.0, (self.soc - self.soc_min) * self.capacity_wh)
            target = max(target, -stored_wh * eta / hours)
        cell_wh = target * hours * (eta if target > 0 else 1.0 / eta)
        self.soc = min(self.soc_max, max(self.soc_min, self.soc + cell_wh / self.capacity_wh))
        if target > 0:
            self.charged_wh += target * hours
        else:
            self.discharged_wh -= target * hours
        self.power_w = target
        return target

    @property
    def voltage_v(self) -> float:
        return NOMINAL_V * (0.94 + 0.12 * self.soc)


@dataclass(slots=True)
class SimulatedBattery:
    host: str
    port: int
    model: BatteryModel
    clock: SimClock
    battery_id: str = "bat-1"
    site_id: str = "site-a"
    layout: str = "native"  # native | victron | both
    prefix: str = "coopgrid"
    portal: str = "c0ffee000001"
    instance: int = 512
    vebus_instance: int = 276
    publish_interval_s: float = 1.0  # real seconds
    setpoints: int = 0  # accepted
    refused: int = 0  # setpoint messages it could not use
    published: int = 0
    _victron_phases: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.layout not in BATTERY_LAYOUTS:
            raise ValueError(f"layout must be one of {BATTERY_LAYOUTS}")

    @property
    def native_base(self) -> str:
        return f"{self.prefix}/batteries/{self.site_id}/{self.battery_id}"

    @property
    def victron_base(self) -> str:
        return f"N/{self.portal}/battery/{self.instance}"

    def victron_setpoint_topic(self, phase: int) -> str:
        return f"W/{self.portal}/vebus/{self.vebus_instance}/Hub4/L{phase}/AcPowerSetpoint"

    def _native(self) -> bool:
        return self.layout in ("native", "both")

    def _victron(self) -> bool:
        return self.layout in ("victron", "both")

    def messages(self) -> list[tuple[str, bytes]]:
        """The telemetry of this instant in the layout(s) it speaks."""
        out: list[tuple[str, bytes]] = []
        m = self.model
        if self._native():
            body = {
                "ts": self.clock.now().isoformat(),
                "soc_pct": round(m.soc * 100.0, 3),
                "power_w": round(m.power_w, 1),
                "voltage_v": round(m.voltage_v, 2),
            }
            out.append((f"{self.native_base}/telemetry", json.dumps(body).encode()))
        if self._victron():
            for path, value in (("Soc", m.soc * 100.0), ("Dc/0/Power", m.power_w), ("Dc/0/Voltage", m.voltage_v)):
                out.append((f"{self.victron_base}/{path}", json.dumps({"value": round(value, 3)}).encode()))
        return out

    def take_setpoint(self, topic: str, payload: bytes) -> bool:
        """A setpoint message; False (and counted) when it cannot be used."""
        now_s = self.clock.elapsed_s()
        try:
            data: Any = json.loads(payload)
            if topic == f"{self.native_base}/setpoint":
                power, valid = float(data["power_w"]), float(data.get("valid_s", 60.0))
            else:
                phase = next(n for n in (1, 2, 3) if topic == self.victron_setpoint_topic(n))
                self._victron_phases[phase] = float(data["value"])
                power, valid = sum(self._victron_phases.values()), VICTRON_HOLD_S
            if not (math.isfinite(power) and math.isfinite(valid) and valid > 0):
                raise ValueError("not finite")
        except (ValueError, TypeError, KeyError, StopIteration, json.JSONDecodeError, UnicodeDecodeError):
            self.refused += 1
            return False
        self.model.follow(power, now_s, valid)
        self.setpoints += 1
        return True

    async def run(self, duration_s: float | None = None) -> None:
        """Publish every publish_interval_s and follow setpoints until cancelled (or duration_s simulated)."""
        state = f"{self.native_base}/state"
        will = aiomqtt.Will(state, b"offline", qos=1, retain=True) if self._native() else None
        async with aiomqtt.Client(self.host, self.port, identifier=f"sim-battery-{self.battery_id}", will=will) as c:
            if self._native():
                await c.subscribe(f"{self.native_base}/setpoint", qos=1)
                await c.publish(state, b"online", qos=1, retain=True)
            if self._victron():
                for phase in (1, 2, 3):
                    await c.subscribe(self.victron_setpoint_topic(phase), qos=1)
            listening = asyncio.create_task(self._listen(c))
            try:
                await self._publish_loop(c, duration_s)
            finally:
                listening.cancel()
                await asyncio.gather(listening, return_exceptions=True)
                if self._native():
                    await c.publish(state, b"offline", qos=1, retain=True)

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            self.take_setpoint(str(message.topic), payload)

    async def _publish_loop(self, client: aiomqtt.Client, duration_s: float | None) -> None:
        last = self.clock.elapsed_s()
        while duration_s is None or last < duration_s:
            honour_cancellation()
            await asyncio.sleep(self.publish_interval_s)
            now = self.clock.elapsed_s()
            self.model.step(now, now - last)
            last = now
            for topic, payload in self.messages():
                await client.publish(topic, payload, qos=1)
                self.published += 1
