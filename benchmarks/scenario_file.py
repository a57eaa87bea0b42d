"""The planning-scenario file (`../shared/PLANNER-SCENARIOS.md`): a TOML file and its CSV series, checked.

The format is a contract (operators and outside checks write their own files): every key is checked, an
invalid file is refused with a `ScenarioError` whose message names the key (`evs[3].departure: ...`), and
unknown keys are refused too (a misspelt optional key would otherwise be silently ignored). Series are
resampled onto the simulation steps: each row holds from its timestamp until the next one.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from smartgrid import series


class ScenarioError(ValueError):
    """An invalid scenario file; the message names the file and the key."""


Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSpec(_Model):
    id: str = Field(min_length=1)
    grid_limit_a: Positive
    base_load_a: NonNegative = 0.0
    base_load_csv: str | None = None
    voltage_v: Positive = 230.0


class ParkSpec(_Model):
    id: str = Field(min_length=1)
    member_id: str = Field(min_length=1)
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    rated_w: Positive | None = None
    profile_csv: str
    forecast_csv: str | None = None


class ChargerSpec(_Model):
    id: str = Field(min_length=1)
    site_id: str
    max_current_a: Annotated[float, Field(ge=6, allow_inf_nan=False)]
    phases: Literal[1, 3]
    phase_switching: bool = False
    phase: Literal[1, 2, 3] = 1


class EvSpec(_Model):
    charger_id: str
    arrival: AwareDatetime
    departure: AwareDatetime
    energy_wh: NonNegative
    max_power_w: Positive | None = None
    mode: Literal["departure", "green", "green_min", "fast"] = "departure"

    @model_validator(mode="after")
    def _order(self) -> EvSpec:
        if self.departure <= self.arrival:
            raise ValueError("departure must be after arrival")
        return self


class BatterySpec(_Model):
    id: str = Field(min_length=1)
    site_id: str
    capacity_wh: Positive
    max_charge_w: NonNegative
    max_discharge_w: NonNegative
    round_trip_efficiency: Annotated[float, Field(gt=0, le=1)] = 0.9
    soc_start: Share = 0.5
    soc_min: Share = 0.0


class PricesSpec(_Model):
    csv: str


class ScenarioSpec(_Model):
    name: str = Field(min_length=1)
    start: AwareDatetime
    end: AwareDatetime
    step_s: Annotated[int, Field(gt=0, le=3600)]
    sites: list[SiteSpec] = Field(min_length=1)
    parks: list[ParkSpec] = Field(default_factory=list)
    chargers: list[ChargerSpec] = Field(default_factory=list)
    evs: list[EvSpec] = Field(default_factory=list)
    batteries: list[BatterySpec] = Field(default_factory=list)
    prices: PricesSpec | None = None

    @model_validator(mode="after")
    def _references(self) -> ScenarioSpec:
        if self.end <= self.start:
            raise ValueError("end: must be after start")
        if (self.end - self.start).total_seconds() % self.step_s:
            raise ValueError("step_s: end - start must be a whole number of steps")
        groups: tuple[tuple[str, Sequence[Any]], ...] = (
            ("sites", self.sites), ("parks", self.parks), ("chargers", self.chargers),
        )  # fmt: skip
        for kind, items in groups:
            seen: set[str] = set()
            for k, item in enumerate(items):
                if item.id in seen:
                    raise ValueError(f"{kind}[{k}].id: {item.id!r} given twice")
                seen.add(item.id)
        seen = set()
        for k, battery in enumerate(self.batteries):
            if battery.id in seen:
                raise ValueError(f"batteries[{k}].id: {battery.id!r} given twice")
            seen.add(battery.id)
        sites = {s.id for s in self.sites}
        chargers = {c.id: c for c in self.chargers}
        for k, c in enumerate(self.chargers):
            if c.site_id not in sites:
                raise ValueError(f"chargers[{k}].site_id: no site {c.site_id!r}")
        for k, b in enumerate(self.batteries):
            if b.site_id not in sites:
                raise ValueError(f"batteries[{k}].site_id: no site {b.site_id!r}")
        plugged: dict[str, list[tuple[datetime, datetime]]] = {}
        for k, ev in enumerate(self.evs):
            if ev.charger_id not in chargers:
                raise ValueError(f"evs[{k}].charger_id: no charger {ev.charger_id!r}")
            for other in plugged.get(ev.charger_id, []):
                if ev.arrival < other[1] and other[0] < ev.departure:
                    raise ValueError(f"evs[{k}].arrival: charger {ev.charger_id!r} already has an EV then")
            plugged.setdefault(ev.charger_id, []).append((ev.arrival, ev.departure))
        return self


@dataclass(frozen=True, slots=True)
class Park:
    spec: ParkSpec
    actual_w: tuple[float, ...]  # mean power per step
    forecast_w: tuple[float, ...] | None  # per step, what the day-ahead forecast said


@dataclass(frozen=True, slots=True)
class Scenario:
    spec: ScenarioSpec
    path: Path
    steps: int
    base_load_a: dict[str, tuple[float, ...]]  # per site, per step
    parks: tuple[Park, ...]
    import_eur_per_kwh: tuple[float, ...] | None  # per step
    export_eur_per_kwh: tuple[float, ...] | None

    @property
    def name(self) -> str:
        return self.spec.name

    def step_of(self, ts: datetime) -> int:
        """The first step starting at or after ts."""
        return math.ceil((ts - self.spec.start).total_seconds() / self.spec.step_s)

    def generation_w(self) -> list[float]:
        return [sum(p.actual_w[i] for p in self.parks) for i in range(self.steps)]


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def parse_spec(text: str, source: str = "scenario") -> ScenarioSpec:
    """The TOML text checked against the format; ScenarioError names the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not TOML: {exc}") from None
    try:
        return ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        where = _where(tuple(first["loc"]))
        if first["type"] == "extra_forbidden":
            message = "unknown key"
        raise ScenarioError(f"{source}: {where}: {message}") from None


def parse_series(text: str, source: str, columns: int) -> list[tuple[datetime, tuple[float, ...]]]:
    """Rows `timestamp,value[,value...]` (smartgrid.series, the planner's own parser)."""
    try:
        return series.parse_series(text, source, columns)
    except series.SeriesError as exc:
        raise ScenarioError(str(exc)) from None


def resample(
    rows: list[tuple[datetime, tuple[float, ...]]], start: datetime, step_s: int, steps: int, source: str
) -> list[tuple[float, ...]]:
    """Each step's values: the row holding at the step's start (each row holds until the next)."""
    if rows[0][0] > start:
        raise ScenarioError(f"{source}: starts at {rows[0][0].isoformat()}, after the scenario's start")
    out = []
    k = 0
    for i in range(steps):
        at = start.timestamp() + i * step_s
        while k + 1 < len(rows) and rows[k + 1][0].timestamp() <= at:
            k += 1
        out.append(rows[k][1])
    return out


def load(path: str | Path) -> Scenario:
    """Read and check a scenario file and the CSV files it names (relative to it)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    spec = parse_spec(text, str(path))
    steps = int((spec.end - spec.start).total_seconds() // spec.step_s)

    def series(name: str, key: str, columns: int) -> list[tuple[float, ...]]:
        file = path.parent / name
        try:
            content = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{path}: {key}: cannot read {name}: {exc}") from None
        return resample(parse_series(content, f"{key} ({name})", columns), spec.start, spec.step_s, steps, key)

    base = {}
    for k, site in enumerate(spec.sites):
        if site.base_load_csv is not None:
            base[site.id] = tuple(max(0.0, v[0]) for v in series(site.base_load_csv, f"sites[{k}].base_load_csv", 1))
        else:
            base[site.id] = (site.base_load_a,) * steps
    parks = []
    for k, park in enumerate(spec.parks):
        actual = tuple(max(0.0, v[0]) for v in series(park.profile_csv, f"parks[{k}].profile_csv", 1))
        forecast = None
        if park.forecast_csv is not None:
            forecast = tuple(max(0.0, v[0]) for v in series(park.forecast_csv, f"parks[{k}].forecast_csv", 1))
        parks.append(Park(park, actual, forecast))
    imports = exports = None
    if spec.prices is not None:
        prices = series(spec.prices.csv, "prices.csv", 2)
        imports, exports = tuple(p[0] for p in prices), tuple(p[1] for p in prices)
    return Scenario(spec, path, steps, base, tuple(parks), imports, exports)
