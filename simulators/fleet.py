"""A fleet: many simulated chargers and parks run together, with a progress line and fleet-wide faults.

Used by `coopgrid simulate ...`, by the pytest fixtures of
`simulators.pytest_plugin`, and by anyone scripting a load test:

    fleet = Fleet.from_scenario(Scenario.load("day.toml"))
    await fleet.run(duration_s=fleet.duration_s, progress=print)
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from simulators.chargepoint import SimulatedChargePoint
from simulators.chargepoint21 import SimulatedChargePoint21
from simulators.chargepoint201 import SimulatedChargePoint201
from simulators.clock import SimClock
from simulators.ev import EVArrival
from simulators.faults import Faults
from simulators.inverter import SimulatedPark
from simulators.scenario import Scenario


@dataclass
class Fleet:
    clock: SimClock
    chargers: list[SimulatedChargePoint] = field(default_factory=list)
    parks: list[SimulatedPark] = field(default_factory=list)
    duration_s: float | None = None
    name: str = "fleet"

    @classmethod
    def of_chargers(
        cls,
        url: str,
        count: int,
        *,
        clock: SimClock | None = None,
        prefix: str = "SIM-",
        protocol: str = "1.6",
        faults: Faults | None = None,
        plan: Callable[[int], list[EVArrival]] | None = None,
        **options: object,
    ) -> Fleet:
        """`count` chargers named `{prefix}{n}` (n from 1); `protocol` "1.6", "2.0.1", "2.1" or "mixed"
        (1.6 and 2.0.1 in turn)."""
        clock = clock or SimClock(datetime.now(UTC))
        chargers = [
            _charger_class(protocol, index)(
                f"{prefix}{index + 1}",
                url,
                clock=clock,
                faults=faults,
                ev_plan=plan(index) if plan else None,
                seed=index,
                **options,  # type: ignore[arg-type]
            )
            for index in range(count)
        ]
        return cls(clock, chargers)

    @classmethod
    def of_parks(cls, host: str, port: int, count: int, inverters: int, *, clock: SimClock, **options: object) -> Fleet:
        """`count` parks `park-{n}` of `inverters` inverters `inv-{n}` each (n from 1), publishing to host:port."""
        parks = [
            SimulatedPark(
                f"park-{index + 1}",
                [f"inv-{n + 1}" for n in range(inverters)],
                mqtt_host=host,
                mqtt_port=port,
                clock=clock,
                seed=index,
                **options,  # type: ignore[arg-type]
            )
            for index in range(count)
        ]
        return cls(clock, parks=parks, name="parks")

    @classmethod
    def from_scenario(cls, scenario: Scenario, *, url: str | None = None, mqtt: tuple[str, int] | None = None) -> Fleet:
        """Everything a scenario describes; `url` and `mqtt` override its central system and broker."""
        head = scenario.scenario
        clock = SimClock(head.start, speed=head.speed)
        plans = scenario.arrivals()
        url = url or scenario.central_system.url
        chargers: list[SimulatedChargePoint] = []
        for site in scenario.sites:
            faults = Faults.parse(site.faults)
            for index, charger_id in enumerate(site.charger_ids()):
                chargers.append(
                    _charger_class(site.protocol, index)(
                        charger_id,
                        url,
                        clock=clock,
                        connectors=site.connectors,
                        phases=site.phases,
                        max_current_a=site.max_current_a,
                        id_tag=site.id_tag,
                        meter_interval_s=site.meter_interval_s,
                        ev_plan=plans[charger_id],
                        seed=head.seed * 100_003 + len(chargers),
                        faults=faults,
                        password=site.password,
                    )
                )
        host, port = mqtt or scenario.broker.host_port
        parks = [
            SimulatedPark(
                park.id,
                park.inverter_ids(),
                mqtt_host=host,
                mqtt_port=port,
                clock=clock,
                rated_power_w=park.rated_power_w,
                prefix=scenario.broker.prefix,
                publish_interval_s=park.publish_interval_s,
                layout=park.layout,
                location=scenario.weather.location,
                clouds=scenario.weather.clouds,
                seed=head.seed + index,
                module=park.module,
                inverter_model=park.inverter,
            )
            for index, park in enumerate(scenario.parks)
        ]
        return cls(clock, chargers, parks, scenario.duration_s, head.name)

    # -- running -----------------------------------------------------------------------------
    async def run(
        self,
        duration_s: float | None = None,
        progress: Callable[[str], None] | None = None,
        every_s: float = 2.0,
    ) -> None:
        """Run every charger and park; stop after `duration_s` simulated seconds (None: until cancelled)."""
        duration_s = duration_s if duration_s is not None else self.duration_s

        async def _until_done() -> None:
            while duration_s is None or self.clock.elapsed_s() < duration_s:
                await asyncio.sleep(every_s)
                if progress is not None:
                    progress(self.progress_line(duration_s))
            raise _Done

        try:
            async with asyncio.TaskGroup() as group:
                for charger in self.chargers:
                    group.create_task(charger.run())
                for park in self.parks:
                    group.create_task(park.run())
                group.create_task(_until_done())
        except* _Done:
            pass

    def storm(self) -> int:
        """A reconnect storm: every charger loses its connection at the same instant and comes back."""
        return sum(charger.disconnect() for charger in self.chargers)

    # -- what it reports ---------------------------------------------------------------------
    def summary(self) -> dict[str, float]:
        return {
            "chargers": len(self.chargers),
            "connected": sum(c.connected for c in self.chargers),
            "charging": sum(1 for c in self.chargers for k in c.connectors.values() if k.transaction_id is not None),
            "ev_power_kw": sum(c.power_w for c in self.chargers) / 1000.0,
            "ev_energy_kwh": sum(c.energy_wh for c in self.chargers) / 1000.0,
            "inverters": sum(len(p.inverter_ids) for p in self.parks),
            "inverters_online": sum(len(p.online) for p in self.parks),
            "solar_power_kw": sum(p.power_w for p in self.parks) / 1000.0,
            "solar_energy_kwh": sum(p.produced_wh for p in self.parks) / 1000.0,
            "telemetry_sent": sum(p.published for p in self.parks),
            "drops": sum(c.drops for c in self.chargers),
        }

    def sent(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for charger in self.chargers:
            total.update(charger.sent)
        return total

    def progress_line(self, duration_s: float | None = None) -> str:
        """What the fleet does now: the chargers' fields when it has chargers, the parks' when it has parks."""
        s = self.summary()
        when = self.clock.now().strftime("%Y-%m-%d %H:%M")
        done = f" {min(100.0, self.clock.elapsed_s() / duration_s * 100):5.1f}%" if duration_s else ""
        parts = []
        if self.chargers:
            parts.append(
                f"chargers {s['connected']:.0f}/{s['chargers']:.0f} up, {s['charging']:.0f} charging, "
                f"EV {s['ev_power_kw']:.1f} kW / {s['ev_energy_kwh']:.1f} kWh"
            )
        if self.parks:
            parts.append(
                f"inverters {s['inverters_online']:.0f}/{s['inverters']:.0f} online in {len(self.parks)} "
                f"park{'s' if len(self.parks) != 1 else ''}, solar {s['solar_power_kw']:.1f} kW / "
                f"{s['solar_energy_kwh']:.1f} kWh ({s['telemetry_sent']:.0f} msgs)"
            )
        return f"[{when}{done}] " + ", ".join(parts or ["nothing simulated"])

    def summary_line(self) -> str:
        """The closing line: what each kind of device did."""
        s = self.summary()
        parts = []
        if self.chargers:
            sent = ", ".join(f"{action} {count}" for action, count in sorted(self.sent().items()))
            parts.append(
                f"{s['ev_energy_kwh']:.1f} kWh into EVs, {s['drops']:.0f} connection drops"
                + (f"; sent {sent}" if sent else "")
            )
        if self.parks:
            parts.append(f"{s['solar_energy_kwh']:.1f} kWh generated, {s['telemetry_sent']:.0f} telemetry messages")
        return "done: " + "; ".join(parts or ["nothing simulated"])


class _Done(Exception):
    """The fleet ran its course."""


def _charger_class(protocol: str, index: int) -> type[SimulatedChargePoint]:
    if protocol == "2.1":
        return SimulatedChargePoint21
    if protocol == "2.0.1" or (protocol == "mixed" and index % 2 == 1):
        return SimulatedChargePoint201
    if protocol in ("1.6", "mixed"):
        return SimulatedChargePoint
    raise ValueError(f"protocol must be 1.6, 2.0.1, 2.1 or mixed, not {protocol!r}")


__all__ = ["Fleet"]
