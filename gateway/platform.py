"""The composition root: builds every component from Settings and owns their lifetimes.

`Platform` is an async context manager that opens the resources (broker,
database, HTTP listener) and builds the parts (gateway.energy, gateway.publishing,
gateway.cluster, the domain packages); `Platform.start(group)` puts their long-running
tasks into the supervisor's TaskGroup. `supervise()` runs one TaskGroup until a stop
event, so SIGINT/SIGTERM end everything cleanly. No domain work is done here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from types import TracebackType

from aiohttp import web

from chargepoints.central import SUPPORTED_VERSIONS, CentralSystem
from chargepoints.ports import ChargerRecord
from gateway import assembly, modbus
from gateway.api.context import Api
from gateway.api.routes import create_app
from gateway.auth import hash_secret
from gateway.batteries import build_battery_telemetry
from gateway.broker import local_broker, persistent_session
from gateway.bus import Bus
from gateway.charger_live import ChargerLive
from gateway.cluster import Cluster, SharedIngest, hold_leadership
from gateway.dashboard import LiveHistories, power_by_cooperative
from gateway.energy import EnergyIntervals
from gateway.events import EventHub
from gateway.files import Files
from gateway.forecast_service import OpenMeteoForecast
from gateway.influx import InfluxWriter
from gateway.journal import JournaledRepository
from gateway.metrics import Metrics
from gateway.ocpi.routes import add_routes as add_ocpi_routes
from gateway.ocpi.service import Ocpi
from gateway.pools import only_cooperative, park_members, park_pools, site_pools
from gateway.prices import DayAheadPrices, PriceMessages
from gateway.pricing import issue_cdr
from gateway.publishing import ChargerLimits, Outbound, solar_power_w
from gateway.settings import Settings
from gateway.startup import StartupStopped, database_label, open_retrying
from gateway.storage import Store, open_store
from gateway.tls import server_context
from gateway.topics import Topics
from gateway.version import package_version
from gateway.world import World
from smartgrid.ledger import GreenAccounting
from smartgrid.planning import Replanner
from smartgrid.scheduler import Scheduler
from solar.forecast import ClearSkyForecast
from solar.ingest import SolarIngest

log = logging.getLogger(__name__)

SCHEDULER_LOCK = 0x436F6F7047726964  # "CoopGrid": the advisory lock whose holder runs the scheduler


def utcnow() -> datetime:
    return datetime.now(UTC)


class Platform:
    """Builds every part from Settings, wires them together and starts their tasks; nothing else."""

    def __init__(
        self, settings: Settings, *, clock: Callable[[], datetime] = utcnow, stop: asyncio.Event | None = None
    ) -> None:
        self.settings = settings
        self._stop = stop  # ends a wait for the database at start
        self.version = package_version()
        self.clock = clock
        self.metrics = Metrics()
        self.hub = EventHub()
        self.ledger = GreenAccounting(
            park_pool=park_pools(settings),
            park_member=park_members(settings),
            battery_pool={b.id: site_pools(settings).get(b.site_id, "") for b in settings.batteries},
            battery_efficiency={b.id: b.efficiency for b in settings.batteries},
        )
        self.history = LiveHistories()
        self.charger_live = ChargerLive(self.now)
        self.topics = Topics(settings.mqtt.prefix)
        self.leader = False
        self.clustered = False
        self._stack = AsyncExitStack()
        self.http_url = ""
        self.mqtt_host = ""
        self.mqtt_port = 0
        # set in __aenter__
        self.store: Store
        self.bus: Bus
        self.central: CentralSystem
        self.solar: SolarIngest
        self.scheduler: Scheduler
        self.replanner: Replanner | None
        self.world: World
        self.cluster: Cluster
        self.energy: EnergyIntervals
        self.outbound: Outbound
        self.influx: InfluxWriter | None
        self.forecast: ClearSkyForecast | None
        self.forecast_service: OpenMeteoForecast | None = None
        self.shared_ingest: SharedIngest | None
        self.day_ahead: DayAheadPrices | None = None  # set by assembly.build_replanner when configured
        self.price_messages: PriceMessages | None = None
        self.site_day_ahead: dict[str, DayAheadPrices] = {}  # sites in a bidding zone of their own
        self.grid_price: Callable[[str | None, datetime], float] | None = None  # (site, when) -> EUR/kWh import
        self.files: Files

    central_supported_versions = SUPPORTED_VERSIONS
    scheduler_clock = staticmethod(time.monotonic)  # the scheduler's time base (seconds)

    def now(self) -> datetime:
        """The platform's clock, read late: parts built with `now` follow a clock replaced after start."""
        return self.clock()

    @property
    def ocpp_url(self) -> str:
        return self.http_url.replace("http", "ws", 1) + "/ocpp"

    # -- resources ------------------------------------------------------------
    async def __aenter__(self) -> Platform:
        try:
            await self._open()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:  # a clustered instance has handed over in supervise() while it still led
            if hasattr(self, "energy") and self.energy.writer and not self.clustered:
                await self.energy.flush(final=True)
        except Exception:
            log.warning("energy intervals not stored at shutdown", exc_info=True)
        finally:
            await self._stack.aclose()

    async def _open(self) -> None:
        settings = self.settings
        await self._open_broker()
        url = settings.database.url
        self.store = await open_retrying(
            self._stack,
            lambda: open_store(url),
            what=f"database {database_label(url)}",
            settings=settings.startup,
            retry=not url.startswith("sqlite"),  # a file that cannot be opened now will not open later
            stop=self._stop,
        )
        self.clustered = self.store.engine.dialect.name == "postgresql"
        self.repository = JournaledRepository(
            self.store, settings.database.journal_path, settings.instance_id, reserve=settings.database.reserved_ids
        )
        self._stack.callback(self.repository.close)
        await self.repository.open()
        client_id = settings.mqtt.client_id or f"coopgrid-{settings.instance_id}"
        self.bus = Bus(self.mqtt_host, self.mqtt_port, client_id=client_id, max_backoff_s=settings.mqtt.reconnect_max_s,
                       clean_session=not persistent_session(settings))  # fmt: skip
        self.central = assembly.build_central(self)
        self.files = await assembly.build_files(self)
        self.solar = assembly.build_solar(self)
        self.meters = assembly.build_meters(self)
        self.battery_telemetry = build_battery_telemetry(
            settings.batteries, publish=self.hub.publish, clock=self.clock, prefix=settings.mqtt.prefix
        )
        self.energy = EnergyIntervals(
            self.store,
            self.solar,
            self.ledger,
            clock=self.now,
            pool_of=self.pool_of,
            clustered=self.clustered,
            leading=lambda: self.leader,
            journaled=self.repository.journaled,
            finished=self._issue_cdr,
            batteries=self.battery_telemetry.minutes,
        )
        await self.energy.restore()
        self.forecast = assembly.build_forecast(self)
        self.influx = assembly.build_influx(self)
        self.outbound = Outbound(
            self.bus, self.topics, self.central, instance_id=settings.instance_id, influx=self.influx, clock=self.now
        )
        self.cluster = Cluster(
            self.bus,
            self.central,
            prefix=settings.mqtt.prefix,
            instance_id=settings.instance_id,
            timeout_s=settings.ocpp.response_timeout_s + 5,
            deliver_remote_event=self._deliver_remote_event,
        )
        self.scheduler = assembly.build_scheduler(
            self, ChargerLimits(self.cluster, on_sent=self.charger_live.limit_sent)
        )
        self.battery_setpoints = assembly.build_battery_setpoints(self)
        self.replanner = assembly.build_replanner(self)
        self.world = World(
            self.store,
            self.scheduler,
            self.central,
            self.bus,
            prefix=settings.mqtt.prefix,
            clock=self.clock,
            scheduler_clock=self.scheduler_clock,
        )
        self.central.departure_targets = self.world  # ISO 15118 charging needs become departure targets
        self.central.session_priorities = self.world  # OCPP 2.1 priority charging: the sessions' modes
        self.central.ev_certificates = assembly.build_contract_service(self)  # Get15118EVCertificate's relay
        self.ocpi = Ocpi(self)
        await self._register_configured()
        self.shared_ingest = self._subscribe_solar()
        for topic_filter in self.meters.topic_filters:
            self.bus.subscribe(topic_filter, self.meters.handle, qos=1)
        if self.price_messages is not None:
            self.bus.subscribe(self.price_messages.topic, self.price_messages.handle, qos=1)
        for topic_filter in self.battery_telemetry.topic_filters:
            self.bus.subscribe(topic_filter, self.battery_telemetry.handle, qos=1)
        assembly.subscribe_events(self)
        await self._serve_http()

    async def _open_broker(self) -> None:
        if self.settings.mqtt.url:
            self.mqtt_host, self.mqtt_port = self.settings.mqtt.host_port
            self.broker_kind = "external"
        else:
            started = await self._stack.enter_async_context(local_broker(self.settings.mqtt.embedded))
            self.mqtt_host, self.mqtt_port, self.broker_kind = started
            log.info("%s MQTT broker started on mqtt://%s:%d", self.broker_kind, self.mqtt_host, self.mqtt_port)

    async def _register_configured(self) -> None:
        """The configuration's chargers and id tags into the registry; then every charger stored."""
        for charger in self.settings.chargers:
            await self.central.register(
                ChargerRecord(id=charger.id, site_id=charger.site_id),
                lenient=charger.lenient,
                phases=charger.phases,
                # ids beyond are refused only when the configuration says how many (the default says nothing)
                connectors=charger.connectors if "connectors" in charger.model_fields_set else None,
            )
            await self.store.set_credentials(
                charger.id, charger.security_profile, hash_secret(charger.password) if charger.password else None
            )
        for tag in self.settings.id_tags:
            await self.store.put_id_tag(tag.id, tag.status)
        self.central.load_records(await self.store.load_chargers())
        await self.world.seed(self.settings)
        await self.world.reload()

    def _subscribe_solar(self) -> SharedIngest | None:
        mqtt = self.settings.mqtt
        if not mqtt.share_group:
            for topic_filter in self.solar.topic_filters:
                self.bus.subscribe(topic_filter, self.solar.handle, qos=1)
            return None
        return SharedIngest(
            self.bus,
            self.solar,
            prefix=mqtt.prefix,
            group=mqtt.share_group,
            instance_id=self.settings.instance_id,
            client_id=self.bus.client_id,
            leading=lambda: self.leader,
            may_adopt=lambda: self.clustered and self.leader,
        )

    def _api(self) -> Api:
        return Api(
            settings=self.settings,
            version=self.version,
            clock=self.clock,
            scheduler_clock=self.scheduler_clock,
            store=self.store,
            central=self.central,
            cluster=self.cluster,
            solar=self.solar,
            scheduler=self.scheduler,
            ledger=self.ledger,
            history=self.history,
            metrics=self.metrics,
            bus=self.bus,
            supported_versions=self.central_supported_versions,
            green_energy_wh=self.energy.green_energy_wh,
            green_by_park_wh=self.energy.green_by_park_wh,
            energy_source=self.energy.energy_source,
            managed=self.managed,
            is_leader=lambda: self.leader,
            world=self.world,
            meters=self.meters,
            batteries=self.battery_telemetry,
            battery_setpoints=self.battery_setpoints.sent,
            battery_soc_sources=self.battery_setpoints.soc_sources,
            grid_price=self.grid_price,
            charger_live=self.charger_live,
            files=self.files,
        )

    async def _serve_http(self) -> None:
        settings = self.settings
        app = create_app(self._api())
        add_ocpi_routes(app, self.ocpi)  # /ocpi: OCPI partners' tokens, outside the REST route table
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        ssl_context = server_context(settings.http, self.settings.ocpp.ca_cert)
        # A deep accept queue: after a redeploy thousands of chargers reconnect at once.
        tcp = web.TCPSite(runner, settings.http.host, settings.http.port, ssl_context=ssl_context, backlog=4096)
        await tcp.start()
        host, port = runner.addresses[0][:2]
        self.http_url = f"{'https' if ssl_context else 'http'}://{host}:{port}"
        log.info("HTTP and OCPP on %s (OCPP: %s/{id})", self.http_url, self.ocpp_url)

    # -- tasks ------------------------------------------------------------------
    def start(self, group: asyncio.TaskGroup) -> None:
        group.create_task(self.bus.run(), name="bus")
        group.create_task(self.central.run(), name="central-system")
        group.create_task(self.central.costs.run(), name="running-costs")
        group.create_task(
            hold_leadership(
                self.store.engine,
                SCHEDULER_LOCK,
                self._lead,
                on_change=self._leading,
                on_failure=self.metrics.scheduler_failed,
            ),
            name="scheduler",
        )
        group.create_task(self._housekeeping(), name="housekeeping")
        group.create_task(self.repository.run(), name="journal")
        group.create_task(self.ocpi.run(), name="ocpi")
        for name, poll in modbus.poll_tasks(self.settings, self.meters, self.solar).items():
            group.create_task(poll, name=name)
        if self.influx is not None:
            group.create_task(self.influx.run(), name="influx")
        zones = {id(p): p for p in [self.day_ahead, *self.site_day_ahead.values()] if p is not None}
        for index, prices in enumerate(zones.values()):
            group.create_task(prices.run(), name=f"day-ahead-prices-{index}")

    async def _lead(self) -> None:
        """While leading: the world's scheduler and, beside it, the planner whose budgets it follows."""
        if self.replanner is None:
            await self.world.lead()
            return
        async with asyncio.TaskGroup() as group:
            group.create_task(self.world.lead(), name="scheduler-loop")
            group.create_task(self.replanner.run(), name="planner")
            if self.forecast_service is not None:
                group.create_task(self.forecast_service.run(self.clock), name="forecast-service")

    async def _housekeeping(self) -> None:
        """Each part's periodic work, once a second (and every 5, 10 or 30 s)."""
        ticks = 0
        while True:
            await asyncio.sleep(1.0)
            ticks += 1
            self.outbound.publish_meters()
            if ticks % 30 == 1:  # Victron Venus stops publishing without a keepalive at least every 60 s
                for topic in assembly.victron_keepalives(self):
                    self.bus.publish(topic, b"", qos=0)
            self.cluster.flush_meters()
            if ticks % 10 == 0:
                self.outbound.write_series(self.solar, self.ledger)
            try:  # the database may be restarting: what is not stored now is stored at a later round
                if ticks % 5 == 0:
                    await self.energy.flush()
                if ticks % 30 == 0:  # chargers registered by other instances, in one query
                    self.central.load_records(await self.store.load_chargers())
                    await self.world.reload()  # should a change announcement have been missed
            except Exception as exc:
                log.warning("housekeeping: database round skipped (%s)", exc)
            await self.solar.check_staleness()
            await self.meters.check_timeouts()
            await self.battery_telemetry.check_timeouts()
            if ticks % 5 == 0 and self.leader:  # the plan's battery setpoints, each valid for a minute
                self.battery_setpoints.publish()
            self.metrics.sample_meters(self.meters, self.scheduler, list(self.world.sites))
            self.metrics.sample_batteries(self.battery_telemetry)
            solar_w, ev_w = self.solar_power_w(), self.ledger.ev_power_w()
            if self.forecast is not None:
                self.forecast.observe(solar_w)
            power = power_by_cooperative(
                self.settings, self.world.site_cooperatives(), self.solar, self.central, self.ledger
            )
            self.history.tick(self.clock(), {"*": (solar_w, ev_w), **power}, 1.0)
            self.metrics.sample(
                solar_w=solar_w,
                ev_w=ev_w,
                bus=self.bus,
                solar=self.solar,
                scheduler=self.scheduler,
                allocations=[self.scheduler.allocation(site_id) for site_id in self.world.sites],
                leader=self.leader,
                influx_queue=self.influx.queue_depth if self.influx is not None else None,
                chargers_connected=sum(1 for s in self.central.states() if s.connected),
                journal=self.repository,
            )

    # -- wiring --------------------------------------------------------------------------
    def _leading(self, leading: bool) -> None:
        self.leader = leading
        if leading and self.shared_ingest is not None:
            self.shared_ingest.adopt_orphans()  # members that went away while another instance led

    async def _deliver_remote_event(self, event: object) -> None:
        await self.scheduler.on_event(event)

    def solar_power_w(self) -> float:
        return solar_power_w(self.solar)

    def managed(self, charge_point_id: str) -> bool:
        """Whether a site's scheduler controls this charger (else: unmanaged, at the unmanaged limit)."""
        site_id = self.central.state(charge_point_id).site_id
        return charge_point_id in self.scheduler.chargers and site_id in self.scheduler.sites

    async def _issue_cdr(self, transaction_id: int) -> None:
        """A finished session's charge detail record, once its energy and green energy are stored for good."""
        party = (self.settings.billing.country_code, self.settings.billing.party_id)
        try:
            cdr = await issue_cdr(self.store, transaction_id, party=party, now=self.now())
            await self.ocpi.cdr_issued(cdr)  # to the OCPI partner whose token the session ran on
        except Exception:
            log.exception("CDR of session %s not issued", transaction_id)
            return
        self.central.costs.settled(transaction_id)  # a station told another total is told the CDR's

    def pool_of(self, charge_point_id: str) -> str:
        """The pool a charger's sessions draw green energy from: the cooperative of its site."""
        site_id = self.central.state(charge_point_id).site_id
        if site_id is None:
            return ""
        stored = self.world.site_cooperatives()  # sites made over REST too, as stored
        if site_id in stored:
            return stored[site_id] or only_cooperative(self.settings)
        return site_pools(self.settings).get(site_id, "")


class _Stop(Exception):
    pass


async def _stop_when_set(event: asyncio.Event, platform: Platform) -> None:
    await event.wait()
    if platform.shared_ingest is not None:
        await platform.shared_ingest.stop()  # a follower leaves the share group; the leader says it is offline
    try:  # while this instance still leads: the next leader continues from what is stored now
        await platform.energy.flush()
    except Exception:
        log.warning("energy intervals not stored at shutdown", exc_info=True)
    raise _Stop


async def supervise(
    settings: Settings,
    stop: asyncio.Event,
    *,
    extra: Callable[[Platform, asyncio.TaskGroup], None] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Run the platform (and `extra` tasks) in one TaskGroup until `stop` is set, on `clock` (the demo and
    scenarios: simulated)."""
    try:
        async with Platform(settings, clock=clock, stop=stop) as platform:
            try:
                async with asyncio.TaskGroup() as group:
                    platform.start(group)
                    if extra is not None:
                        extra(platform, group)
                    group.create_task(_stop_when_set(stop, platform), name="stop")
            except* _Stop:
                pass
    except StartupStopped:
        return  # stopped while start-up waited for the database: nothing had started
