"""`[planner]`: the receding-horizon planner's settings (its slots, horizon and forecast quantile, its feeds of
forecasts and prices, the tariff on top of day-ahead prices); gateway.settings holds them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from gateway.settings_base import Model as _Model


class PlannerSettings(_Model):
    """The receding-horizon planner (smartgrid.planner): the scheduler follows its per-slot budgets."""

    enabled: bool = True
    slot_s: float = Field(900.0, ge=300, le=900, description="slot length, 5-15 minutes")
    horizon_h: float = Field(24.0, ge=24, le=36)
    replan_s: float = Field(300.0, ge=30, description="re-plan this often (and on session start, stop, target)")
    quantile: float = Field(0.2, gt=0, le=0.5, description="the forecast quantile the plan counts on")
    mip_max_session_slots: int = Field(
        1000, ge=0, description="up to sessions x slots this many, the plan holds the chargers' minimum current (a MIP)"
    )
    mip_time_limit_s: float = Field(1.0, gt=0, le=60, description="a minimum-current plan not found by then is relaxed")
    forecast_csv: Path | None = Field(
        None, description="offline forecast: timestamp,power_w (all parks), each row holding until the next"
    )
    forecast_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="Open-Meteo's forecast API (https://api.open-meteo.com/v1/forecast) or one answering like it: "
        "the parks' 15-minute forecast; needs solar.latitude/longitude; none = the parks' own model",
    )
    forecast_refresh_s: float = Field(3600.0, ge=60, description="ask the forecast service this often")
    prices_csv: Path | None = Field(None, description="timestamp,import_eur_per_kwh,export_eur_per_kwh per slot")
    import_eur_per_kwh: float = Field(0.30, ge=0, description="without a price file: a flat import price")
    prices_mqtt_topic: str | None = Field(
        None, description="the price file's rows (same CSV) as an MQTT message, retained; replaces the file's rows"
    )
    day_ahead: Literal["none", "entsoe", "nordpool"] = Field(
        "none", description="day-ahead spot prices from ENTSO-E or Nord Pool (file and MQTT: the offline fallback)"
    )
    day_ahead_area: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{2,20}$", description="bidding zone: ENTSO-E area (NL, DE_LU) or Nord Pool (SE3)"
    )
    entsoe_url: str = Field("https://web-api.tp.entsoe.eu/api", description="the ENTSO-E Transparency API")
    entsoe_token: str | None = Field(None, description="the ENTSO-E security token")
    nordpool_url: str = Field("https://dataportal-api.nordpoolgroup.com/api", description="the Nord Pool data API")
    day_ahead_refresh_s: float = Field(3600.0, ge=60, description="fetch today's and tomorrow's prices this often")
    import_markup_eur_per_kwh: float = Field(0.0, description="on top of the spot price: grid fee, energy tax")
    import_vat: float = Field(0.0, ge=0, le=1, description="on the spot price plus the markup")
    export_markup_eur_per_kwh: float = Field(0.0, description="taken off the spot price for energy exported")

    @model_validator(mode="after")
    def _day_ahead(self) -> PlannerSettings:
        if self.day_ahead != "none" and not self.day_ahead_area:
            raise ValueError(f"day_ahead_area: day_ahead = {self.day_ahead!r} needs the bidding zone")
        if self.day_ahead == "entsoe" and not self.entsoe_token:
            raise ValueError("entsoe_token: ENTSO-E's API needs a security token")
        return self
