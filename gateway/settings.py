"""Settings: a TOML file plus COOPGRID_* environment variables (nested with __).

Environment variables override the file. Invalid configuration raises
ConfigError with a message naming every offending field.
"""

from __future__ import annotations

import os
import socket
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from chargepoints.contracts import ContractRoots
from gateway.files_settings import FilesSettings
from gateway.installation import (
    CONFIG_ID,
    METER_LAYOUTS_MODBUS,
    METER_LAYOUTS_MQTT,
    BatteryConfig,
    ChargerConfig,
    ConfigId,
    CooperativeConfig,
    IdTagConfig,
    InverterConfig,
    MemberConfig,
    MeterConfig,
    ParkConfig,
    SiteConfig,
)
from gateway.planner_settings import PlannerSettings
from gateway.settings_base import Model as _Model
from gateway.settings_base import clear_empty

__all__ = [
    "CONFIG_ID", "METER_LAYOUTS_MODBUS", "METER_LAYOUTS_MQTT", "BatteryConfig", "ChargerConfig", "ConfigError",
    "ConfigId", "CooperativeConfig", "FilesSettings", "IdTagConfig", "InverterConfig", "MemberConfig", "MeterConfig",
    "ParkConfig", "Settings", "SiteConfig", "load_settings",
]  # fmt: skip


class ConfigError(Exception):
    """The configuration is invalid; the message names the fields."""


class TlsPair(_Model):
    cert: Path
    key: Path


class HttpSettings(_Model):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    auth: bool = Field(True, description="require bearer tokens on /api (off only for local demos)")
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    tls_more: list[TlsPair] = Field(
        default_factory=list,
        description="certificates served beside tls_cert, of another key type (an RSA one beside an ECDSA "
        "one, as OCPP asks of a central system): each handshake gets the one its cipher suite needs",
    )

    @model_validator(mode="after")
    def _tls_pairs(self) -> HttpSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.tls_more and self.tls_cert is None:
            raise ValueError("tls_more needs tls_cert")
        return self


class MqttSettings(_Model):
    url: str | None = Field(None, description="mqtt://host:port of an external broker; none = embedded")
    embedded: Literal["auto", "mosquitto", "amqtt"] = Field(
        "auto",
        description="the broker started when no url is set: auto = Mosquitto as a child process when it is "
        "installed, else amqtt in the process",
    )
    prefix: str = "coopgrid"
    client_id: str | None = Field(None, description="default: coopgrid-<instance id>")
    persistent_session: bool = Field(
        True,
        description="with an external broker and a stable client id (client_id or instance_id set): a persistent "
        "session (clean_session off) so that QoS 1 telemetry published while CoopGrid restarts is delivered "
        "afterwards",
    )
    reconnect_max_s: float = Field(30.0, gt=0)
    share_group: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="with several instances on one external broker: solar telemetry is subscribed as "
        "$share/<group>/..., so that each message is parsed by one instance, which passes the reading on to all "
        "(on <prefix>/cluster/solar/readings); every instance then holds the whole live picture",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("mqtt", "mqtts", "tcp") or not parsed.hostname:
            raise ValueError("expected mqtt://HOST[:PORT]")
        return value

    @property
    def host_port(self) -> tuple[str, int]:
        assert self.url is not None
        parsed = urlparse(self.url)
        default = 8883 if parsed.scheme == "mqtts" else 1883
        return parsed.hostname or "127.0.0.1", parsed.port or default


class DatabaseSettings(_Model):
    url: str = "sqlite+aiosqlite:///coopgrid.db"
    journal_dir: Path | None = Field(
        None,
        description="where transactions answered while the database is away are kept until it is back "
        "(one file per instance; local disk, kept across restarts); default: `journal` beside a SQLite "
        "database file, else `./journal`",
    )
    reserved_ids: int = Field(
        1000, ge=1, le=1_000_000, description="transaction ids reserved for starts answered while it is away"
    )

    @property
    def journal_path(self) -> Path:
        if self.journal_dir is not None:
            return self.journal_dir
        if self.url.startswith("sqlite") and ":///" in self.url and ":memory:" not in self.url:
            return Path(self.url.split(":///", 1)[1]).parent / "journal"
        return Path("journal")


class OcppSettings(_Model):
    unknown_chargers: Literal["accept", "pending", "reject"] = "accept"
    strict_subprotocol: bool = False
    heartbeat_interval_s: int = Field(300, gt=0)
    registration_retry_s: int = Field(
        60,
        ge=0,
        description="the interval of a Pending or Rejected BootNotification answer: the least wait "
        "before the charger boots again (0: the charger chooses)",
    )
    response_timeout_s: float = Field(30.0, gt=0)
    transaction_status_after_s: float = Field(
        30.0,
        ge=0,
        le=86400,
        description="2.0.1/2.1: this long after a station connects, each transaction CoopGrid holds open for "
        "it that it has not reported on is asked about (GetTransactionStatus, E14); 0: never",
    )
    lenient: bool = Field(False, description="repair known quirks of every charger (or per charger)")
    safe_limit_a: float | None = Field(
        None, ge=0, description="TxDefaultProfile installed at boot; none = leave the charger's own"
    )
    unmanaged_limit_a: float | None = Field(
        6.0,
        ge=0,
        description="TxDefaultProfile for a charger no site's scheduler controls (unknown chargers, no site): "
        "no uncontrolled charging by default; none = leave it uncontrolled",
    )
    dynamic_profiles: bool = Field(
        False,
        description="OCPP 2.1 stations: a running transaction's TxProfile is installed as a Dynamic charging "
        "profile and each new limit sent as UpdateDynamicSchedule (a refused update: SetChargingProfile again)",
    )
    dynamic_update_interval_s: int = Field(
        300,
        ge=0,
        le=2**31 - 1,
        description="the Dynamic profile's dynUpdateInterval: how often a station may pull its limit "
        "(PullDynamicScheduleUpdate) besides the updates CoopGrid pushes; 0 = no interval",
    )
    max_frame_bytes: int = Field(65536, ge=1024)
    websocket_compression: bool = Field(
        False,
        description="accept permessage-deflate when a charger offers it; off by default: OCPP frames are a few "
        "hundred bytes, and each compressed connection holds two zlib contexts (about 100 KB more)",
    )
    max_frames_per_s: float = Field(
        100.0,  # a charger sends about one frame a second; ocpp_throughput's flood reached ~100 per connection
        ge=0,
        description="per connection, sustained: a charger sending faster is slowed down (its next frame is read "
        "later, nothing is refused); 0 = no limit",
    )
    frame_burst: int = Field(200, ge=1, description="frames a connection may send at once above max_frames_per_s")
    ca_cert: Path | None = Field(None, description="CA for SignCertificate; created with ca_key when missing")
    ca_key: Path | None = None
    contract_roots: Path | None = Field(
        None,
        description="ISO 15118 Plug & Charge: PEM file of the contract-certificate CAs (roots and sub-CAs) that "
        "Authorize's iso15118CertificateHashData must be issued by; with ocsp_responder_url",
    )
    ocsp_responder_url: str | None = Field(
        None, pattern=r"^https?://", description="the OCSP responder contract certificates are checked with"
    )
    ocsp_timeout_s: float = Field(5.0, gt=0)
    contract_service_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="ISO 15118 Plug & Charge: where a station's Get15118EVCertificate is relayed (its OCPP "
        "payload POSTed as JSON, a {status, exiResponse} answer expected); none = answered Failed",
    )
    contract_service_timeout_s: float = Field(10.0, gt=0)

    @field_validator("contract_roots")
    @classmethod
    def _contract_roots(cls, path: Path | None) -> Path | None:
        if path is not None:
            try:
                ContractRoots.from_pem(path.read_bytes())
            except (OSError, ValueError) as exc:
                raise ValueError(f"{path}: not a PEM file of CA certificates ({exc})") from None
        return path

    @model_validator(mode="after")
    def _ca_pair(self) -> OcppSettings:
        if (self.ca_cert is None) != (self.ca_key is None):
            raise ValueError("ca_cert and ca_key go together")
        if (self.contract_roots is None) != (self.ocsp_responder_url is None):
            raise ValueError("contract_roots and ocsp_responder_url go together")
        return self


class SchedulerSettings(_Model):
    tick_s: float = Field(5.0, gt=0)
    debounce_s: float = Field(0.2, ge=0)
    min_change_a: float = Field(0.5, ge=0)
    # hysteresis (all off by default: react within a second)
    enable_delay_s: float = Field(0.0, ge=0, description="start only after enough green for this long")
    disable_delay_s: float = Field(0.0, ge=0, description="pause only after too little green for this long")
    min_update_interval_s: float = Field(0.0, ge=0, description="raise a charger's limit at most this often")
    phase_switch_hold_s: float = Field(0.0, ge=0)
    enable_threshold_w: float = Field(0.0, ge=0)
    disable_threshold_w: float = Field(0.0, ge=0)


class SolarSettings(_Model):
    stale_after_s: float = Field(15.0, gt=0)
    # where the parks are: enables the clear-sky PV forecast that departure plans use to wait for the sun
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    altitude_m: float = 0.0
    tilt_deg: float = Field(30.0, ge=0, le=90)
    azimuth_deg: float = Field(180.0, ge=0, lt=360, description="180 = facing south")

    @model_validator(mode="after")
    def _both_coordinates(self) -> SolarSettings:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude (for the PV forecast), or neither")
        return self


class InfluxSettings(_Model):
    url: str | None = Field(None, description="http(s)://host:8086 of a server accepting /api/v2/write; none = off")
    token: str = ""
    org: str = "coopgrid"
    bucket: str = "coopgrid"
    batch_size: int = Field(500, ge=1)
    flush_interval_s: float = Field(1.0, gt=0)
    max_buffer: int = Field(50_000, ge=100)


class StartupSettings(_Model):
    """How long `serve` waits for a PostgreSQL that is not reachable yet (the broker: mqtt.reconnect_max_s)."""

    retry_initial_s: float = Field(1.0, gt=0, description="the first pause before trying the database again")
    retry_max_s: float = Field(30.0, gt=0, description="the pause doubles up to this")
    retry_for_s: float = Field(0.0, ge=0, description="give up after this long (exit code 1); 0 = keep trying")


# Ids of the configuration's own things (sites, parks, inverters, members, cooperatives) stand in topics,
class BillingSettings(_Model):
    country_code: str = Field("NL", pattern=r"^[A-Z]{2}$", description="this operator's ISO 3166 country (OCPI)")
    party_id: str = Field("CGR", pattern=r"^[A-Z0-9]{3}$", description="this operator's OCPI party id")
    running_cost_interval_s: float = Field(
        60.0,
        ge=0,
        le=86_400,
        description="how often a charging station is told a priced session's running cost (0: never)",
    )


class OcpiPlaceConfig(_Model):
    """Where a site is, as OCPI Locations say it (partners' apps show it)."""

    site_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,36}$")
    name: str = Field("", max_length=255)
    address: str = Field(min_length=1, max_length=45)
    city: str = Field(min_length=1, max_length=45)
    postal_code: str | None = Field(None, max_length=10)
    country: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3")
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    time_zone: str = "UTC"


class OcpiSettings(_Model):
    """OCPI 2.2.1 in the CPO role; country_code and party_id are billing's."""

    enabled: bool = False
    public_url: str | None = Field(
        None, pattern=r"^https?://[^/]+(/.*)?$", description="the base URL partners reach; none = the HTTP listener's"
    )
    business_name: str = Field("CoopGrid", min_length=1, max_length=100)
    request_timeout_s: float = Field(10.0, gt=0, le=120, description="each call to a partner")
    push_retry_initial_s: float = Field(2.0, gt=0, description="the first pause before a failed push is retried")
    push_retry_max_s: float = Field(600.0, gt=0, description="the pause doubles up to this")
    session_push_s: float = Field(60.0, gt=0, description="a charging session's energy is pushed at most this often")
    command_timeout_s: int = Field(30, ge=1, le=600, description="CommandResponse.timeout: the charger's answer")
    tokens_pull_s: float = Field(3600.0, gt=0, description="how often partners' tokens are pulled")
    places: list[OcpiPlaceConfig] = Field(default_factory=list, description="each site's address and coordinates")

    @model_validator(mode="after")
    def _retry_bounds(self) -> OcpiSettings:
        if self.push_retry_max_s < self.push_retry_initial_s:
            raise ValueError("push_retry_max_s: must be >= push_retry_initial_s")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COOPGRID_", env_nested_delimiter="__", extra="forbid")

    http: HttpSettings = Field(default_factory=HttpSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    ocpp: OcppSettings = Field(default_factory=OcppSettings)
    files: FilesSettings = Field(default_factory=FilesSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    solar: SolarSettings = Field(default_factory=SolarSettings)
    influx: InfluxSettings = Field(default_factory=InfluxSettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    ocpi: OcpiSettings = Field(default_factory=OcpiSettings)
    startup: StartupSettings = Field(default_factory=StartupSettings)
    planner: PlannerSettings = Field(default_factory=PlannerSettings)
    batteries: list[BatteryConfig] = Field(default_factory=list)
    operator_token: str | None = None
    instance_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="names this process among several sharing a broker and a database",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    sites: list[SiteConfig] = Field(default_factory=list)
    chargers: list[ChargerConfig] = Field(default_factory=list)
    parks: list[ParkConfig] = Field(default_factory=list)
    cooperatives: list[CooperativeConfig] = Field(default_factory=list)
    id_tags: list[IdTagConfig] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file (the file arrives as init kwargs).
        return env_settings, init_settings

    @model_validator(mode="before")
    @classmethod
    def _empty_clears(cls, data: Any) -> Any:
        return clear_empty(cls, data)

    @model_validator(mode="after")
    def _check_references(self) -> Settings:
        problems: list[str] = []
        site_ids = {site.id for site in self.sites}
        for index, charger in enumerate(self.chargers):
            if charger.site_id not in site_ids:
                problems.append(f"chargers.{index}.site_id: unknown site {charger.site_id!r}")
            if charger.security_profile in (1, 2) and not charger.password:
                problems.append(f"chargers.{index}.password: security profile 1-2 needs a password")
        for index, battery in enumerate(self.batteries):
            if battery.site_id not in site_ids:
                problems.append(f"batteries.{index}.site_id: unknown site {battery.site_id!r}")
        if self.planner.forecast_url and (self.solar.latitude is None or self.solar.longitude is None):
            problems.append("planner.forecast_url: needs solar.latitude and solar.longitude (where the parks are)")
        if self.mqtt.share_group and not self.mqtt.url:
            problems.append("mqtt.share_group: shared subscriptions need an external broker (mqtt.url)")
        cooperative_ids = {coop.id for coop in self.cooperatives}
        for index, site in enumerate(self.sites):
            if site.cooperative_id is not None and site.cooperative_id not in cooperative_ids:
                problems.append(f"sites.{index}.cooperative_id: unknown cooperative {site.cooperative_id!r}")
        member_ids = {m.id for coop in self.cooperatives for m in coop.members}
        for index, park in enumerate(self.parks):
            if member_ids and park.member_id not in member_ids:
                problems.append(f"parks.{index}.member_id: unknown member {park.member_id!r}")
        named: tuple[tuple[str, list[Any]], ...] = (
            ("sites", self.sites),
            ("chargers", self.chargers),
            ("parks", self.parks),
            ("batteries", self.batteries),
        )
        for name, items in named:
            ids = [item.id for item in items]
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                problems.append(f"{name}: duplicate ids {duplicates}")
        problems.extend(_site_load_problems(self.sites))
        problems.extend(_inverter_id_problems(self.parks))
        if problems:
            raise ValueError("\n".join(problems))  # one line each, every one naming its field
        return self


def _site_load_problems(sites: list[SiteConfig]) -> list[str]:
    return [
        f"sites.{index}.base_load_a: {site.base_load_a:g} A is above the site's grid_limit_a of "
        f"{site.grid_limit_a:g} A (the load already on the connection leaves no room)"
        for index, site in enumerate(sites)
        if site.base_load_a > site.grid_limit_a
    ]


def _inverter_id_problems(parks: list[ParkConfig]) -> list[str]:
    problems = []
    for index, park in enumerate(parks):
        first: dict[str, int] = {}
        for position, inverter in enumerate(park.inverters):
            if inverter.id in first:
                problems.append(
                    f"parks.{index}.inverters.{position}.id: duplicate inverter id {inverter.id!r} in park "
                    f"{park.id!r} (also inverters.{first[inverter.id]})"
                )
            first.setdefault(inverter.id, position)
    return problems


def _format(error: ValidationError) -> str:
    lines: list[str] = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        # the whole configuration's checks name their fields themselves, one problem a line
        lines.extend(f"  {where}: {line}" if where else f"  {line}" for line in message.splitlines())
    return "invalid configuration:\n" + "\n".join(lines)


def _planner_files_beside(data: dict[str, Any], folder: Path) -> None:
    """The planner's feed files, when relative, are found beside the configuration file."""
    planner = data.get("planner")
    if isinstance(planner, dict):
        for key in ("forecast_csv", "prices_csv"):
            value = planner.get(key)
            if isinstance(value, str) and not Path(value).is_absolute():
                planner[key] = str(folder / value)


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Read the TOML file (if any), apply COOPGRID_* variables, validate."""
    data: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"configuration file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        _planner_files_beside(data, path.parent)
    data.update(overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_format(exc)) from exc
