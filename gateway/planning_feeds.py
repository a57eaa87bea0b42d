"""The planner's edge: its forecast, prices and batteries from the configuration and the files it names.

Files are read once at start (`load_feeds`) and parsed by smartgrid.series; a file that cannot be read
stops the start with a message naming the setting. The scheduler's clock (monotonic seconds) is turned
into the platform's wall clock here, so the pure planner never sees a date.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from gateway.forecast_service import OpenMeteoForecast
from gateway.settings import BatteryConfig, PlannerSettings
from smartgrid.planner import PlanBattery
from smartgrid.series import SeriesError, StepSeries, parse_series
from solar.forecast import ClearSkyForecast


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
        if self.prices_file is None:
            return None
        start = self.wall(start_s)
        imports = self.prices_file.slot_means(start, slot_s, slots, column=0)
        exports = self.prices_file.slot_means(start, slot_s, slots, column=1)
        step = timedelta(seconds=slot_s)
        for k in range(slots):  # where the file says nothing: the flat price of the settings
            if not self.prices_file.covers(start + step * (k + 0.5)):
                imports[k], exports[k] = self.settings.import_eur_per_kwh, 0.0
        return imports, exports

    def batteries(self) -> list[PlanBattery]:
        return [
            PlanBattery(
                b.id,
                b.site_id,
                b.capacity_kwh * 1000.0,
                b.power_kw * 1000.0,
                b.power_kw * 1000.0,
                round_trip_efficiency=b.efficiency,
                soc=b.soc_start,
                soc_min=b.soc_min,
                soc_max=b.soc_max,
                reserve=b.reserve,
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
        service=service,
    )
