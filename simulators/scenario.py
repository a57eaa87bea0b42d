"""Scenarios: a TOML file describing a simulated day of sites, chargers, EVs and solar parks.

    [scenario]
    name = "Sunny Saturday"
    start = 1990-06-14T13:00:00Z   # a day of the bundled TMY weather year (UTC)
    speed = 60                     # simulated seconds per real second
    duration_h = 4
    seed = 7                       # same seed, same EVs

    [central_system]
    url = "ws://127.0.0.1:8080/ocpp"

    [broker]
    url = "mqtt://127.0.0.1:1883"
    prefix = "coopgrid"

    [weather]
    location = "greensboro"        # or "sand-point"
    clouds = 0.2                   # depth of random cloud transients, 0..1

    [[sites]]
    id = "site-depot"
    chargers = 4
    prefix = "CP-DEPOT-"           # ids CP-DEPOT-1 ... CP-DEPOT-4, or: ids = ["CP-7", "CP-9"]
    password = "..."               # optional: HTTP Basic auth (security profile 1)
    protocol = "1.6"               # "1.6", "2.0.1", "2.1" or "mixed" (1.6 and 2.0.1 in turn)
    faults = "drop=300"            # see simulators.faults
    [sites.arrivals]
    per_charger = 2                # EVs per charger over the scenario
    window_h = [0.0, 3.0]          # arrivals uniform in this window
    energy_kwh = { mean = 20, sd = 8 }
    stay_h = { mean = 3, sd = 1 }
    battery_kwh = [50, 60, 77]     # picked at random
    max_power_kw = [7.4, 11]

    [[parks]]
    id = "park-alder"
    inverters = 3
    rated_power_w = 5000
    layout = "native"              # "opendtu", "tasmota"
    module = "Canadian_Solar_Inc__CS5C_90M"        # optional, CEC database
    inverter = "SMA_America__SB5000US__240V_"      # optional, CEC database

Random draws use one seeded generator per scenario, so a scenario is
reproducible run after run.
"""

from __future__ import annotations

import random
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simulators.ev import EVArrival
from simulators.faults import Faults, FaultSpecError
from simulators.inverter import LAYOUTS, WEATHER_FILES


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Normal(_Strict):
    mean: float
    sd: float = Field(0.0, ge=0)

    def draw(self, rng: random.Random, low: float) -> float:
        return max(low, rng.gauss(self.mean, self.sd))


class Header(_Strict):
    name: str = "scenario"
    start: datetime = datetime(1990, 6, 14, 13, tzinfo=UTC)
    speed: float = Field(60.0, gt=0)
    duration_h: float = Field(4.0, gt=0)
    seed: int = 1

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class CentralSystem(_Strict):
    url: str = "ws://127.0.0.1:8080/ocpp"

    @field_validator("url")
    @classmethod
    def _ws(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return value.rstrip("/")


class Broker(_Strict):
    url: str = "mqtt://127.0.0.1:1883"
    prefix: str = "coopgrid"

    @field_validator("url")
    @classmethod
    def _mqtt(cls, value: str) -> str:
        if not value.startswith("mqtt://"):
            raise ValueError("must look like mqtt://host:port")
        return value

    @property
    def host_port(self) -> tuple[str, int]:
        rest = self.url.removeprefix("mqtt://")
        host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "1883")
        return host.strip("[]"), int(port)


class Weather(_Strict):
    location: str = "greensboro"
    clouds: float = Field(0.0, ge=0, le=1)

    @field_validator("location")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in WEATHER_FILES:
            raise ValueError(f"unknown location; bundled weather: {sorted(WEATHER_FILES)}")
        return value


class Arrivals(_Strict):
    per_charger: float = Field(1.0, ge=0)
    window_h: tuple[float, float] = (0.0, 2.0)
    energy_kwh: Normal = Normal(mean=20.0, sd=8.0)
    stay_h: Normal = Normal(mean=3.0, sd=1.0)
    battery_kwh: list[float] = Field(default_factory=lambda: [60.0], min_length=1)
    max_power_kw: list[float] = Field(default_factory=lambda: [11.0], min_length=1)
    target_soc: float = Field(0.9, gt=0, le=1)

    @model_validator(mode="after")
    def _window(self) -> Arrivals:
        if not 0 <= self.window_h[0] <= self.window_h[1]:
            raise ValueError("window_h must be [start, end] with 0 <= start <= end")
        return self


class SiteSpec(_Strict):
    id: str
    chargers: int = Field(1, ge=1, le=100_000)
    prefix: str = ""
    ids: list[str] = Field(default_factory=list)  # explicit charger ids instead of prefix + number
    password: str | None = None  # HTTP Basic auth (OCPP security profile 1)
    protocol: Literal["1.6", "2.0.1", "2.1", "mixed"] = "1.6"
    connectors: int = Field(1, ge=1, le=8)
    phases: Literal[1, 3] = 3
    max_current_a: float = Field(16.0, gt=0)
    id_tag: str = "DEMO-TAG"
    meter_interval_s: float = Field(60.0, gt=0)
    faults: str = ""
    arrivals: Arrivals = Arrivals()

    @field_validator("faults")
    @classmethod
    def _faults(cls, value: str) -> str:
        try:
            Faults.parse(value)
        except FaultSpecError as exc:
            raise ValueError(str(exc)) from exc
        return value

    def charger_ids(self) -> list[str]:
        if self.ids:
            return list(self.ids)
        prefix = self.prefix or f"{self.id}-CP-"
        return [f"{prefix}{index + 1}" for index in range(self.chargers)]


class ParkSpec(_Strict):
    id: str
    inverters: int = Field(1, ge=1, le=1000)
    rated_power_w: float = Field(0.0, ge=0)
    layout: str = "native"
    module: str | None = None
    inverter: str | None = None
    publish_interval_s: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> ParkSpec:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}")
        if bool(self.module) != bool(self.inverter):
            raise ValueError("give both module and inverter (CEC database names), or neither")
        if not self.inverter and self.rated_power_w <= 0:
            raise ValueError("rated_power_w is needed unless an inverter is chosen from the CEC database")
        return self

    def inverter_ids(self) -> list[str]:
        return [f"inv-{index + 1}" for index in range(self.inverters)]


class Scenario(_Strict):
    scenario: Header = Header()
    central_system: CentralSystem = CentralSystem()
    broker: Broker = Broker()
    weather: Weather = Weather()
    sites: list[SiteSpec] = Field(default_factory=list)
    parks: list[ParkSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Scenario:
        ids = [cid for site in self.sites for cid in site.charger_ids()]
        if len(ids) != len(set(ids)):
            raise ValueError("charger ids repeat across sites: give each site its own prefix")
        if len({p.id for p in self.parks}) != len(self.parks):
            raise ValueError("park ids must be unique")
        return self

    @property
    def duration_s(self) -> float:
        return self.scenario.duration_h * 3600.0

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ScenarioError(f"{path}: no such scenario file") from exc
        except UnicodeDecodeError as exc:
            raise ScenarioError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {error['msg']}" for error in exc.errors()
            )
            raise ScenarioError(f"{path}: {problems}") from exc

    def arrivals(self) -> dict[str, list[EVArrival]]:
        """Each charger's EVs, drawn from the scenario's seeded distributions."""
        rng = random.Random(self.scenario.seed)
        plans: dict[str, list[EVArrival]] = {}
        for site in self.sites:
            spec = site.arrivals
            for charger_id in site.charger_ids():
                count = _poisson(rng, spec.per_charger)
                plan = []
                for _ in range(count):
                    battery_wh = rng.choice(spec.battery_kwh) * 1000.0
                    need_wh = min(spec.energy_kwh.draw(rng, 1.0) * 1000.0, battery_wh * (spec.target_soc - 0.05))
                    plan.append(
                        EVArrival(
                            arrive_after_s=rng.uniform(*spec.window_h) * 3600.0,
                            battery_wh=battery_wh,
                            soc=spec.target_soc - need_wh / battery_wh,
                            target_soc=spec.target_soc,
                            max_power_w=rng.choice(spec.max_power_kw) * 1000.0,
                            stay_s=spec.stay_h.draw(rng, 0.25) * 3600.0,
                        )
                    )
                plans[charger_id] = sorted(plan, key=lambda a: a.arrive_after_s)
        return plans


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small means of EVs per charger."""
    if mean <= 0:
        return 0
    limit, count, product = pow(2.718281828459045, -mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


__all__ = ["Scenario", "ScenarioError"]
