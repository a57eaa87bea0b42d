"""The composition root's builders: each part made from the settings and the parts it needs.

`gateway.platform.Platform` calls them in order while it opens; they read what they need off the
platform being built, and do nothing but construct.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargepoints.central import CentralSystem
from chargepoints.contracts import ContractRoots
from gateway.batteries import BatterySetpoints
from gateway.contract_service import ContractService
from gateway.cost_quotes import PricedQuotes
from gateway.files import Files
from gateway.forecast_service import OpenMeteoForecast
from gateway.influx import InfluxWriter
from gateway.ocsp import OcspChecker
from gateway.passwords import StoredPasswords
from gateway.pki import CertificateAuthority
from gateway.planning_feeds import load_feeds
from gateway.prices import DayAheadPrices, PriceMessages
from gateway.publishing import ChargerLimits
from gateway.station_tariffs import StoredTariffs
from smartgrid.allocation import Site
from smartgrid.hysteresis import HysteresisSettings
from smartgrid.planning import PlanningSettings, Replanner
from smartgrid.ports import ChargerSpec
from smartgrid.scheduler import Scheduler
from solar.forecast import ClearSkyForecast
from solar.ingest import InverterSpec, ParkSpec, SolarIngest
from solar.meters import GridMeters, MeterSpec, victron_keepalive_topic

if TYPE_CHECKING:
    from gateway.platform import Platform


def build_central(platform: Platform) -> CentralSystem:
    ocpp = platform.settings.ocpp
    return CentralSystem(
        platform.repository,
        platform.hub.publish,
        platform.clock,
        unknown_chargers=ocpp.unknown_chargers,
        heartbeat_interval_s=ocpp.heartbeat_interval_s,
        registration_retry_s=ocpp.registration_retry_s,
        response_timeout_s=ocpp.response_timeout_s,
        transaction_status_after_s=ocpp.transaction_status_after_s,
        safe_limit_a=ocpp.safe_limit_a,
        unmanaged_limit_a=ocpp.unmanaged_limit_a,
        managed=platform.managed,
        lenient_by_default=ocpp.lenient,
        event_log=platform.store.events,
        observe=platform.metrics.observe,
        certificate_authority=(
            CertificateAuthority.load_or_create(ocpp.ca_cert, ocpp.ca_key) if ocpp.ca_cert and ocpp.ca_key else None
        ),
        max_frames_per_s=ocpp.max_frames_per_s,
        frame_burst=ocpp.frame_burst,
        register_log=platform.repository.log_register,
        passwords=StoredPasswords(platform.store),
        reservations=platform.store.reservations,
        cost_quotes=PricedQuotes(platform.store, lambda: platform.energy),
        running_cost_interval_s=platform.settings.billing.running_cost_interval_s,
        files=platform.store.files,
        contract_certificates=build_contracts(platform),
        tariff_source=StoredTariffs(platform.store, platform.clock),
        dynamic_profiles=ocpp.dynamic_profiles,
        dynamic_update_interval_s=ocpp.dynamic_update_interval_s,
    )


async def build_files(platform: Platform) -> Files:
    """Firmware served and uploads received; URLs on this server's own address unless files.public_url."""
    settings = platform.settings
    files = Files(
        settings.files,
        settings.files.path(settings.database.url),
        platform.store.files,
        platform.now,
        lambda: platform.http_url,
    )
    await files.open()
    return files


def build_contract_service(platform: Platform) -> ContractService | None:
    ocpp = platform.settings.ocpp
    if ocpp.contract_service_url is None:
        return None
    return ContractService(ocpp.contract_service_url, timeout_s=ocpp.contract_service_timeout_s)


def build_contracts(platform: Platform) -> OcspChecker | None:
    """ISO 15118 Plug & Charge: the contract-certificate CAs and the OCSP responder, when configured."""
    ocpp = platform.settings.ocpp
    if ocpp.contract_roots is None or ocpp.ocsp_responder_url is None:
        return None
    roots = ContractRoots.from_pem(ocpp.contract_roots.read_bytes())
    return OcspChecker(roots, ocpp.ocsp_responder_url, timeout_s=ocpp.ocsp_timeout_s, clock=platform.now)


def build_solar(platform: Platform) -> SolarIngest:
    settings = platform.settings
    return SolarIngest(
        parks={
            park.id: ParkSpec(
                id=park.id,
                member_id=park.member_id,
                inverters={
                    inv.id: InverterSpec(
                        id=inv.id, rated_power_w=inv.rated_power_w, adapter=inv.adapter, topic=inv.topic
                    )
                    for inv in park.inverters
                },
            )
            for park in settings.parks
        },
        publish=platform.hub.publish,
        clock=platform.clock,
        prefix=settings.mqtt.prefix,
        stale_after_s=settings.solar.stale_after_s,
    )


def build_meters(platform: Platform) -> GridMeters:
    """Every site's grid connection meter (MQTT layouts subscribed here; Modbus ones polled by gateway.modbus)."""
    settings = platform.settings
    return GridMeters(
        meters={
            site.id: MeterSpec(
                site_id=site.id,
                layout=site.meter.layout,
                topic=site.meter.topic,
                timeout_s=site.meter.timeout_s,
                max_current_a=site.meter.max_current_a or 3 * site.grid_limit_a,
                phases=site.meter.phases,
            )
            for site in settings.sites
            if site.meter is not None
        },
        publish=platform.hub.publish,
        clock=platform.clock,
        prefix=settings.mqtt.prefix,
    )


def build_forecast(platform: Platform) -> ClearSkyForecast | None:
    solar = platform.settings.solar
    if solar.latitude is None or solar.longitude is None:
        return None
    return ClearSkyForecast(
        solar.latitude,
        solar.longitude,
        sum(inv.rated_power_w for park in platform.settings.parks for inv in park.inverters),
        clock=platform.clock,
        altitude_m=solar.altitude_m,
        tilt_deg=solar.tilt_deg,
        azimuth_deg=solar.azimuth_deg,
    )


def build_forecast_service(platform: Platform) -> OpenMeteoForecast | None:
    planner, solar = platform.settings.planner, platform.settings.solar
    if planner.forecast_url is None or solar.latitude is None or solar.longitude is None:
        return None  # (a URL without the parks' location is refused by the settings)
    return OpenMeteoForecast(
        planner.forecast_url,
        solar.latitude,
        solar.longitude,
        sum(inv.rated_power_w for park in platform.settings.parks for inv in park.inverters),
        tilt_deg=solar.tilt_deg,
        azimuth_deg=solar.azimuth_deg,
        refresh_s=planner.forecast_refresh_s,
    )


def build_influx(platform: Platform) -> InfluxWriter | None:
    influx = platform.settings.influx
    if not influx.url:
        return None
    return InfluxWriter(
        influx.url,
        influx.token,
        influx.org,
        influx.bucket,
        batch_size=influx.batch_size,
        flush_interval_s=influx.flush_interval_s,
        max_buffer=influx.max_buffer,
    )


def build_scheduler(platform: Platform, limits: ChargerLimits) -> Scheduler:
    settings = platform.settings
    scheduler = settings.scheduler
    return Scheduler(
        sites={
            s.id: Site(id=s.id, grid_limit_a=s.grid_limit_a, base_load_a=s.base_load_a, voltage_v=s.voltage_v)
            for s in settings.sites
        },
        chargers={
            c.id: ChargerSpec(
                site_id=c.site_id,
                phases=c.phases,
                min_current_a=c.min_current_a,
                max_current_a=c.max_current_a,
                phase_switching=c.phase_switching,
            )
            for c in settings.chargers
        },
        green_power_w=platform.solar.total_power_w,
        send_limit=limits.send_limit,
        switch_phases=limits.switch_phases,
        green_forecast_wh=platform.forecast.energy_wh if platform.forecast is not None else None,
        publish_allocation=platform.outbound.publish_allocation,
        clock=platform.scheduler_clock,
        wall_clock=platform.clock,
        debounce_s=scheduler.debounce_s,
        tick_s=scheduler.tick_s,
        min_change_a=scheduler.min_change_a,
        hysteresis=HysteresisSettings(
            enable_delay_s=scheduler.enable_delay_s,
            disable_delay_s=scheduler.disable_delay_s,
            min_update_interval_s=scheduler.min_update_interval_s,
            phase_switch_hold_s=scheduler.phase_switch_hold_s,
            enable_threshold_w=scheduler.enable_threshold_w,
            disable_threshold_w=scheduler.disable_threshold_w,
        ),
    )


def build_replanner(platform: Platform) -> Replanner | None:
    """The planner the scheduler follows ([planner], on by default): forecast, prices and batteries as ports."""
    planner = platform.settings.planner
    if not planner.enabled:
        return None
    if planner.day_ahead != "none":
        platform.day_ahead = DayAheadPrices(planner, platform.clock)
        zones: dict[str, DayAheadPrices] = {}
        for site in platform.settings.sites:
            if site.day_ahead_area and site.day_ahead_area != planner.day_ahead_area:
                if site.day_ahead_area not in zones:
                    zoned = planner.model_copy(update={"day_ahead_area": site.day_ahead_area})
                    zones[site.day_ahead_area] = DayAheadPrices(zoned, platform.clock)
                platform.site_day_ahead[site.id] = zones[site.day_ahead_area]
    if planner.prices_mqtt_topic:
        platform.price_messages = PriceMessages(planner.prices_mqtt_topic)
    platform.forecast_service = build_forecast_service(platform)
    feeds = load_feeds(
        planner,
        platform.settings.batteries,
        clock=platform.clock,
        scheduler_clock=platform.scheduler_clock,
        model=platform.forecast,
        measured_soc=platform.battery_telemetry.soc,
        estimated_soc=platform.battery_setpoints.estimated_soc,
        soc_sources=platform.battery_setpoints.soc_sources,
        green_share=platform.ledger.battery_green_share,
        day_ahead=platform.day_ahead,
        messages=platform.price_messages,
        site_day_ahead=platform.site_day_ahead,
        service=platform.forecast_service,
    )
    platform.grid_price = feeds.import_price_at
    return Replanner(
        platform.scheduler,
        settings=PlanningSettings(
            slot_s=planner.slot_s,
            horizon_s=planner.horizon_h * 3600.0,
            replan_s=planner.replan_s,
            quantile=planner.quantile,
            default_import_eur_per_kwh=planner.import_eur_per_kwh,
            mip_max_session_slots=planner.mip_max_session_slots,
            mip_time_limit_s=planner.mip_time_limit_s,
        ),
        forecast_w=feeds.forecast_w,
        clock=platform.scheduler_clock,
        measured_green_w=platform.solar.total_power_w,
        prices=feeds.prices,
        site_prices=feeds.site_prices,
        batteries=feeds.batteries,
    )


def build_battery_setpoints(platform: Platform) -> BatterySetpoints:
    """The plan's battery setpoints, sent while this instance leads; a battery coming live asks for a plan."""
    return BatterySetpoints(
        platform.bus,
        platform.battery_telemetry,
        platform.settings.batteries,
        plan=lambda: platform.scheduler.plan,
        clock=platform.scheduler_clock,
        replan=platform.scheduler.plan_wanted.set,
        site_ev_power_w=lambda site_id: site_ev_power_w(platform, site_id),
    )


def site_ev_power_w(platform: Platform, site_id: str) -> float:
    """What the EVs at a site draw now (as their chargers last reported)."""
    return platform.ledger.ev_power_w([s.id for s in platform.central.states() if s.site_id == site_id])


def victron_keepalives(platform: Platform) -> list[str]:
    """The keepalive topics of every Victron device configured: grid meters, PV inverters, batteries."""
    inverters = {
        victron_keepalive_topic(inv.topic)
        for park in platform.settings.parks
        for inv in park.inverters
        if inv.adapter == "victron" and inv.topic
    }
    return sorted(
        {
            *platform.meters.keepalive_topics(),
            *platform.battery_telemetry.keepalive_topics(),
            *(t for t in inverters if t is not None),
        }
    )


def subscribe_events(platform: Platform) -> None:
    """Who hears the domain events, in this order (each only the types it names in `event_types`, if any)."""
    hub = platform.hub
    for listener in (
        platform.metrics,
        platform.outbound,
        platform.energy,
        platform.scheduler,
        platform.charger_live,
        platform.battery_setpoints,
        platform.central.costs,
    ):
        hub.attach(listener)
    if platform.ocpi.enabled:
        hub.attach(platform.ocpi)
    if platform.influx is not None:
        hub.attach(platform.influx)
    if platform.clustered:
        hub.subscribe(platform.cluster.mirror)
