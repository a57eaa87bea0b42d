"""The installation as the configuration file describes it: sites (and their grid meters), chargers, parks
and their inverters, batteries, cooperatives and their members, id tags (gateway.settings holds them)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from chargepoints.identity import IDENTITY_PATTERN
from gateway.settings_base import Model as _Model

# URLs and reports: a letter or digit, then letters, digits, `.`, `_`, `-` or `~`, at most 64 in all.
CONFIG_ID = r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,63}$"
ConfigId = Annotated[str, Field(pattern=CONFIG_ID)]


METER_LAYOUTS_MQTT = ("native", "shelly_pro3em", "tasmota_sml", "victron")
METER_LAYOUTS_MODBUS = ("sunspec", "sdm630")


class MeterConfig(_Model):
    """`[sites.meter]`: the site's grid connection meter; while it speaks, the chargers get what the fuse leaves."""

    layout: Literal["native", "shelly_pro3em", "tasmota_sml", "victron", "sunspec", "sdm630"] = "native"
    topic: str | None = Field(
        None,
        description="MQTT layouts: the meter's base topic (Shelly topic prefix, Tasmota topic, Victron "
        "N/<portal>/grid/<instance>); native default: <prefix>/grid/<site id>/meter",
    )
    host: str | None = Field(None, description="Modbus TCP layouts (sunspec, sdm630): the meter's address")
    port: int = Field(502, ge=1, le=65535)
    unit_id: int = Field(1, ge=0, le=255, description="Modbus unit (slave) id")
    interval_s: float = Field(1.0, gt=0, description="how often a Modbus meter is polled (MQTT: how often it sends)")
    timeout_s: float = Field(
        5.0, gt=0, description="silent for longer than this: the site falls back to grid_limit_a and base_load_a"
    )
    phases: Literal[1, 3] = 3
    max_current_a: float | None = Field(
        None, gt=0, description="a phase current beyond +-this is out of range (default: 3 x grid_limit_a)"
    )

    @model_validator(mode="after")
    def _address(self) -> MeterConfig:
        if self.layout in METER_LAYOUTS_MODBUS and not self.host:
            raise ValueError(f"layout {self.layout} is polled over Modbus TCP: give its host")
        if self.layout in METER_LAYOUTS_MQTT and self.layout != "native" and not self.topic:
            raise ValueError(f"layout {self.layout} needs the meter's base topic")
        if self.timeout_s < self.interval_s:
            raise ValueError("timeout_s must be at least interval_s")
        return self


class SiteConfig(_Model):
    id: ConfigId
    name: str = ""
    cooperative_id: ConfigId | None = Field(
        None, description="the cooperative that runs the site: its tokens see the site's chargers and sessions"
    )
    grid_limit_a: float = Field(63.0, gt=0, description="grid connection limit per phase, A")
    base_load_a: float = Field(0.0, ge=0)
    voltage_v: float = Field(230.0, gt=0)
    meter: MeterConfig | None = Field(None, description="the grid connection meter; none: the static limit")
    day_ahead_area: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{2,20}$",
        description="the site's own bidding zone for day-ahead prices (default: planner.day_ahead_area)",
    )


class ChargerConfig(_Model):
    id: str = Field(pattern=IDENTITY_PATTERN, description="OCPP identity: 1-48 of letters, digits and *-_=+|@.")
    site_id: str
    connectors: int = Field(1, ge=1)
    phases: Literal[1, 3] = 3
    min_current_a: float = Field(6.0, gt=0)
    max_current_a: float = Field(16.0, gt=0)
    security_profile: Literal[0, 1, 2, 3] = 0
    password: str | None = Field(None, min_length=16, max_length=40)
    lenient: bool | None = Field(None, description="repair known quirks; default: ocpp.lenient")
    phase_switching: bool = Field(
        False, description="the charger switches between 1 and 3 phases as its profiles' numberPhases say"
    )

    @model_validator(mode="after")
    def _check_range(self) -> ChargerConfig:
        if self.max_current_a < self.min_current_a:
            raise ValueError("max_current_a must be >= min_current_a")
        if self.phase_switching and self.phases != 3:
            raise ValueError("phase_switching needs a 3-phase charger (phases = 3)")
        return self


class InverterConfig(_Model):
    id: ConfigId
    rated_power_w: float = Field(gt=0)
    adapter: Literal["native", "opendtu", "ahoy", "tasmota", "victron", "sunspec", "modbus_sunspec"] = "native"
    topic: str | None = Field(None, description="base topic of a third-party layout, e.g. solar/114182945123")
    host: str | None = Field(None, description="modbus_sunspec: the inverter's Modbus TCP address")
    port: int = Field(502, ge=1, le=65535)
    unit_id: int = Field(1, ge=0, le=255)
    interval_s: float = Field(5.0, gt=0, description="modbus_sunspec: how often the inverter is polled")

    @model_validator(mode="after")
    def _topic_for_layouts(self) -> InverterConfig:
        if self.adapter == "modbus_sunspec":
            if not self.host:
                raise ValueError("adapter modbus_sunspec is polled over Modbus TCP: give its host")
        elif self.adapter != "native" and not self.topic:
            raise ValueError(f"adapter {self.adapter} needs the inverter's base topic")
        return self


class ParkConfig(_Model):
    id: ConfigId
    member_id: ConfigId
    name: str = ""
    inverters: list[InverterConfig] = Field(default_factory=list)


class MemberConfig(_Model):
    id: ConfigId
    name: str = ""


class CooperativeConfig(_Model):
    id: ConfigId
    name: str = ""
    members: list[MemberConfig] = Field(default_factory=list)


class IdTagConfig(_Model):
    id: str
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] = "Accepted"


class BatteryConfig(_Model):
    """A stationary battery at a site: planned, its telemetry read and its setpoints sent over MQTT."""

    id: ConfigId
    site_id: str
    capacity_kwh: float = Field(gt=0)
    power_kw: float = Field(gt=0, description="charge and discharge, AC side")
    efficiency: float = Field(0.9, gt=0, le=1, description="round trip")
    soc_min: float = Field(0.1, ge=0, le=1)
    soc_max: float = Field(1.0, ge=0, le=1)
    reserve: float = Field(0.0, ge=0, le=1, description="kept for the site at all times, on top of soc_min")
    soc_start: float = Field(0.5, ge=0, le=1, description="assumed state of charge until telemetry says otherwise")
    layout: Literal["native", "victron"] = Field(
        "native",
        description="telemetry and setpoints: native (<prefix>/batteries/<site>/<id>/telemetry, .../setpoint) or "
        "victron (N/<portal>/battery/<instance>/Soc, Dc/0/Power; ESS external control setpoints)",
    )
    topic: str | None = Field(None, description="victron: the battery's base topic N/<portal>/battery/<instance>")
    vebus_instance: int = Field(276, ge=0, description="victron: the VE.Bus instance the setpoints go to")
    phases: Literal[1, 3] = Field(3, description="victron: phases the setpoint is split over (Hub4/L1..L3)")
    timeout_s: float = Field(30.0, gt=0, description="telemetry older than this is not live: the planner estimates")
    setpoint_valid_s: float = Field(
        60.0, gt=0, description="a setpoint holds this long; republished every 10 s while a plan stands"
    )

    @model_validator(mode="after")
    def _bounds(self) -> BatteryConfig:
        if self.soc_max < self.soc_min:
            raise ValueError("soc_max must be >= soc_min")
        if self.layout == "victron":
            parts = (self.topic or "").split("/")
            if len(parts) != 4 or parts[0] != "N" or parts[2] != "battery" or not all(parts):
                raise ValueError("topic: a victron battery needs its base topic N/<portal>/battery/<instance>")
        if any(c in (self.topic or "") for c in "+#"):
            raise ValueError("topic: no MQTT wildcards (+, #) in a battery's topic")
        return self
