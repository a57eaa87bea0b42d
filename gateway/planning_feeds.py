"""The planner's edge: its forecast, prices and batteries from the configuration and the files it names.

Files are read once at start (`load_feeds`) and parsed by smartgrid.series; a file that cannot be read
stops the start with a message naming the setting. The scheduler's clock (monotonic seconds) is turned
into the platform's wall clock here, so the pure planner never sees a date.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from gateway.forecast_service import OpenMeteoForecast
from gateway.planner_settings import PlannerSettings
from gateway.prices import DayAheadPrices, PriceMessages
from gateway.settings import BatteryConfig
from smartgrid.planner import PlanBattery
from smartgrid.series import SeriesError, StepSeries, parse_series
from solar.forecast import ClearSkyForecast

SOURCES_KEPT = 4  # plans whose state of charge's origin is remembered (the one shown may be a plan behind)


def soc_source(recent: Sequence[tuple[float, str]], planned_soc: float) -> str:
    """Where the state of charge a plan started from came from (the newest match)."""
    for soc, name in reversed(recent):
        if abs(soc - planned_soc) < 1e-9:
            return name
    return "configured"


class FeedError(ValueError):
    """A planner feed that cannot be used; the message names the setting."""


def read_series(path: Path, setting: str, columns: int) -> StepSeries:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedError(f"{setting}: cannot read {path}: {exc}") from None
    try:
        return StepSeries(parse_series(text, f"{setting} ({path})", columns), outside=(0.0,) * columns)
    except SeriesError as exc:
        raise FeedError(str(exc)) from None


@dataclass
class PlannerFeeds:
    settings: PlannerSettings
    clock: Callable[[], datetime]  # the platform's clock
    scheduler_clock: Callable[[], float]  # the scheduler's (and the planner's) time base
    model: ClearSkyForecast | None = None  # the parks' own pvlib model, scaled by what they measure
    forecast_file: StepSeries | None = None
    prices_file: StepSeries | None = None
    batteries_config: Sequence[BatteryConfig] = ()
    # a battery's state of charge: measured while its telemetry is live, else the last plan's estimate for now
    measured_soc: Callable[[str], float | None] | None = None
    estimated_soc: Callable[[str], float | None] | None = None
    green_share: Callable[[str], float] | None = None  # of the energy stored now (the green accounting's)
    day_ahead: DayAheadPrices | None = None  # ENTSO-E or Nord Pool
    messages: PriceMessages | None = None  # the price file's rows over MQTT
    site_day_ahead: Mapping[str, DayAheadPrices] = field(default_factory=dict)  # sites in a zone of their own
    # battery -> the last few (state of charge, where it came from: measured | estimated | configured) planned on
    soc_sources: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    service: OpenMeteoForecast | None = None  # planner.forecast_url's, refreshed by the leader

    def wall(self, at_s: float) -> datetime:
        return self.clock() + timedelta(seconds=at_s - self.scheduler_clock())

    def forecast_w(self, start_s: float, slot_s: float, slots: int) -> list[float]:
        """Per slot: the file where it covers the slot, else the forecast service where it does, else the
        parks' model; nothing known: no sun planned."""
        start = self.wall(start_s)
        forecast = self.model.slots_w(start, slot_s, slots) if self.model is not None else [0.0] * slots
        step = timedelta(seconds=slot_s)
        service = self.service.series if self.service is not None else None
        for source in (service, self.forecast_file):  # the later, the stronger
            if source is None:
                continue
            means = source.slot_means(start, slot_s, slots)
            forecast = [
                m if source.covers(start + step * (k + 0.5)) else f
                for k, (m, f) in enumerate(zip(means, forecast, strict=True))
            ]
        return forecast

    def prices(self, start_s: float, slot_s: float, slots: int) -> tuple[list[float], list[float]] | None:
        """Per slot: the day-ahead spot price with the tariff's markups where it is known, else the price file
        (or its MQTT feed, whichever came last), else the flat price of the settings."""
        return self._prices(self.day_ahead, start_s, slot_s, slots)

    def site_prices(
        self, site_id: str, start_s: float, slot_s: float, slots: int
    ) -> tuple[list[float], list[float]] | None:
        """A site in a bidding zone of its own (`sites.day_ahead_area`): its zone's prices (None: the others')."""
        own = self.site_day_ahead.get(site_id)
        return self._prices(own, start_s, slot_s, slots) if own is not None else None

    def import_price_at(self, site_id: str | None, ts: datetime) -> float:
        """The grid's import price (EUR/kWh) at `ts` for a site, as the planner counts it: its zone's day-ahead
        price with the markups, else the price file (or its MQTT feed), else the flat price."""
        day_ahead = self.site_day_ahead.get(site_id or "", self.day_ahead)
        spot = day_ahead.series if day_ahead is not None else None
        st = self.settings
        if spot is not None and spot.covers(ts):
            return (spot.at(ts)[0] + st.import_markup_eur_per_kwh) * (1.0 + st.import_vat)
        fallback = self.messages.series if self.messages is not None and self.messages.series else self.prices_file
        if fallback is not None and fallback.covers(ts):
            return fallback.at(ts)[0]
        return st.import_eur_per_kwh

    def _prices(
        self, day_ahead: DayAheadPrices | None, start_s: float, slot_s: float, slots: int
    ) -> tuple[list[float], list[float]] | None:
        fallback = self.messages.series if self.messages is not None and self.messages.series else self.prices_file
        spot = day_ahead.series if day_ahead is not None else None
        if fallback is None and spot is None:
            return None
        st = self.settings
        start, step = self.wall(start_s), timedelta(seconds=slot_s)
        imports, exports = [st.import_eur_per_kwh] * slots, [0.0] * slots
        if fallback is not None:
            file_in = fallback.slot_means(start, slot_s, slots, column=0)
            file_out = fallback.slot_means(start, slot_s, slots, column=1)
            for k in range(slots):
                if fallback.covers(start + step * (k + 0.5)):
                    imports[k], exports[k] = file_in[k], file_out[k]
        if spot is not None:
            for k, price in enumerate(spot.slot_means(start, slot_s, slots)):
                if spot.covers(start + step * (k + 0.5)):
                    imports[k] = (price + st.import_markup_eur_per_kwh) * (1.0 + st.import_vat)
                    exports[k] = price - st.export_markup_eur_per_kwh
        return imports, exports

    def soc(self, battery: BatteryConfig) -> float:
        """Measured when live; else the last plan's estimate for now; else the configured start."""
        soc, name = battery.soc_start, "configured"
        for source_name, source in (("measured", self.measured_soc), ("estimated", self.estimated_soc)):
            value = source(battery.id) if source is not None else None
            if value is not None and 0.0 <= value <= 1.0:
                soc, name = value, source_name
                break
        recent = self.soc_sources.setdefault(battery.id, [])
        recent.append((soc, name))
        del recent[:-SOURCES_KEPT]
        return soc

    def batteries(self) -> list[PlanBattery]:
        return [
            PlanBattery(
                b.id,
                b.site_id,
                b.capacity_kwh * 1000.0,
                b.power_kw * 1000.0,
                b.power_kw * 1000.0,
                round_trip_efficiency=b.efficiency,
                soc=self.soc(b),
                soc_min=b.soc_min,
                soc_max=b.soc_max,
                reserve=b.reserve,
                green_share=min(1.0, max(0.0, self.green_share(b.id))) if self.green_share is not None else 0.0,
            )
            for b in self.batteries_config
        ]


def load_feeds(
    settings: PlannerSettings,
    batteries: Sequence[BatteryConfig],
    *,
    clock: Callable[[], datetime],
    scheduler_clock: Callable[[], float],
    model: ClearSkyForecast | None,
    measured_soc: Callable[[str], float | None] | None = None,
    estimated_soc: Callable[[str], float | None] | None = None,
    green_share: Callable[[str], float] | None = None,
    soc_sources: dict[str, list[tuple[float, str]]] | None = None,
    day_ahead: DayAheadPrices | None = None,
    messages: PriceMessages | None = None,
    site_day_ahead: Mapping[str, DayAheadPrices] | None = None,
    service: OpenMeteoForecast | None = None,
) -> PlannerFeeds:
    return PlannerFeeds(
        settings,
        clock,
        scheduler_clock,
        model=model,
        forecast_file=(
            read_series(settings.forecast_csv, "planner.forecast_csv", 1) if settings.forecast_csv else None
        ),
        prices_file=read_series(settings.prices_csv, "planner.prices_csv", 2) if settings.prices_csv else None,
        batteries_config=tuple(batteries),
        measured_soc=measured_soc,
        estimated_soc=estimated_soc,
        green_share=green_share,
        soc_sources=soc_sources if soc_sources is not None else {},
        day_ahead=day_ahead,
        messages=messages,
        site_day_ahead=dict(site_day_ahead or {}),
        service=service,
    )
