"""Prices per site in the planner: a site in a bidding zone of its own is planned on its zone's prices (the
others on the input's), the plan reports the prices it counted on and each site's grid cost; the planning
loop asks the feeds for each site's own prices."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from gateway.planner_settings import PlannerSettings
from gateway.planning_feeds import PlannerFeeds
from gateway.prices import DayAheadPrices
from smartgrid.allocation import Site
from smartgrid.planner import PlanInput, PlanSession, PlanSite, plan
from smartgrid.planning import PlanningSettings, Replanner
from smartgrid.scheduler import Scheduler
from smartgrid.series import StepSeries

HOUR = 3600.0
T0 = datetime(2026, 6, 1, 0, tzinfo=UTC)


def test_each_site_buys_in_its_own_cheap_hour_and_its_cost_is_what_it_bought() -> None:
    sites = {
        "north": PlanSite("north", 32.0),  # the input's prices: cheap in the first hour
        "south": PlanSite("south", 32.0, import_eur_per_kwh=[0.40, 0.10], export_eur_per_kwh=0.0),
    }
    sessions = [PlanSession("n", "north", 10_000), PlanSession("s", "south", 10_000)]
    result = plan(PlanInput(HOUR, [0.0, 0.0], sites, sessions, import_eur_per_kwh=[0.10, 0.40]))
    assert result.sites["north"].import_wh == pytest.approx((10_000, 0), abs=1e-3)
    assert result.sites["south"].import_wh == pytest.approx((0, 10_000), abs=1e-3)
    assert result.sites["south"].import_eur_per_kwh == (0.40, 0.10)
    assert result.sites["north"].cost_eur == pytest.approx(1.0)
    assert result.sites["south"].cost_eur == pytest.approx(1.0)


async def nothing(*args: object, **kwargs: object) -> None:
    return None


def test_the_loop_plans_a_site_on_its_zone_from_the_feeds() -> None:
    settings = PlannerSettings(day_ahead="nordpool", day_ahead_area="SE3", import_markup_eur_per_kwh=0.05)
    zone = DayAheadPrices(settings.model_copy(update={"day_ahead_area": "SE4"}), lambda: T0)
    zone.series = StepSeries([(T0, (0.20,)), (T0.replace(hour=1), (0.02,))])
    feeds = PlannerFeeds(settings, clock=lambda: T0, scheduler_clock=lambda: 0.0, site_day_ahead={"south": zone})
    assert feeds.site_prices("north", 0.0, HOUR, 2) is None
    south = feeds.site_prices("south", 0.0, HOUR, 2)
    assert south is not None
    assert south[0] == pytest.approx([0.25, 0.07])  # the zone's spot price with the markup
    assert south[1] == pytest.approx([0.20, 0.02])

    async def build() -> PlanInput:
        scheduler = Scheduler(
            sites={"north": Site("north", 32.0), "south": Site("south", 32.0)},
            chargers={},
            green_power_w=lambda: 0.0,
            send_limit=nothing,
            publish_allocation=nothing,
            clock=lambda: 0.0,
        )
        replanner = Replanner(
            scheduler,
            settings=PlanningSettings(slot_s=HOUR, horizon_s=2 * HOUR),
            forecast_w=lambda start, slot, slots: [0.0] * slots,
            clock=lambda: 0.0,
            site_prices=feeds.site_prices,
        )
        return replanner.build(0.0)

    problem = asyncio.run(build())
    assert problem.sites["north"].import_eur_per_kwh is None
    own = problem.sites["south"].import_eur_per_kwh
    assert isinstance(own, list)
    assert own == pytest.approx([0.25, 0.07])
