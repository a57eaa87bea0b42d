"""The composition root: builds every component from Settings and owns their lifetimes.

`Platform` is an async context manager that opens the resources (broker,
database, HTTP listener); `Platform.start(group)` puts its long-running tasks
into the supervisor's TaskGroup. `supervise()` runs one TaskGroup until a stop
event, so SIGINT/SIGTERM end everything cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from aiohttp import web

from chargepoints.central import SUPPORTED_VERSIONS, CentralSystem
from chargepoints.errors import ChargePointError
from chargepoints.events import (
    ChargerConnected,
    ChargerDisconnected,
    ConnectorStatusChanged,
    MeterSample,
    TransactionStarted,
    TransactionStopped,
)
from chargepoints.ports import ChargerRecord, TransactionRecord
from gateway.api.context import Api
from gateway.api.routes import create_app
from gateway.auth import hash_secret
from gateway.bus import Bus, embedded_broker
from gateway.cluster import Cluster, SharedIngest, hold_leadership
from gateway.dashboard import LiveHistories
from gateway.events import EventHub
from gateway.influx import InfluxWriter, points_for_allocation, points_for_parks
from gateway.influx import point as influx_point
from gateway.metrics import Metrics
from gateway.pki import CertificateAuthority
from gateway.settings import Settings
from gateway.storage import Store, open_store
from gateway.topics import Topics
from gateway.version import package_version
from smartgrid.allocation import Site
from smartgrid.hysteresis import HysteresisSettings
from smartgrid.ledger import GreenLedger, split_interval
from smartgrid.scheduler import ChargerSpec, Scheduler
from solar.accounting import Baseline, minute_of
from solar.forecast import ClearSkyForecast
from solar.ingest import InverterSpec, ParkSpec, SolarIngest

log = logging.getLogger(__name__)

SCHEDULER_LOCK = 0x436F6F7047726964  # "CoopGrid": the advisory lock whose holder runs the scheduler


def utcnow() -> datetime:
    return datetime.now(UTC)


class Platform:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.version = package_version()
        self.clock = clock
        self.metrics = Metrics()
        self.hub = EventHub()
        self.ledger = GreenLedger()
        self.history = LiveHistories()
        self._meter_latest: dict[tuple[str, int], MeterSample] = {}
        self.leader = False
        self._stack = AsyncExitStack()
        self.http_url = ""
        self.mqtt_host = ""
        self.mqtt_port = 0
        self._phases_in_use: dict[tuple[str, int], int] = {}  # chargers switched by the scheduler
        self._ev_minutes: dict[datetime, float] = {}  # EV energy per minute, until the minute closes
        self._park_minutes: dict[tuple[str, datetime], float] = {}  # generation per park, recent minutes
        self._solar_unflushed: dict[tuple[str, datetime], float] = {}
        self._green_unflushed: list[tuple[str, datetime, float, float]] = []
        self._energy_writer = False  # this instance stores the intervals (SQLite: always; else the leader)
        self._baselines_seen: dict[str, tuple[datetime, float | None, float | None]] = {}  # as last stored
        self._energy_lock = asyncio.Lock()  # one flush at a time: minutes and baselines stored in order
        self.clustered = False
        self.topics = Topics(settings.mqtt.prefix)
        # set in __aenter__
        self.store: Store
        self.bus: Bus
        self.central: CentralSystem
        self.solar: SolarIngest
        self.scheduler: Scheduler

    central_supported_versions = SUPPORTED_VERSIONS
    scheduler_clock = staticmethod(time.monotonic)  # the scheduler's time base (seconds)

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
            if hasattr(self, "store") and self._energy_writer and not self.clustered:
                await self.flush_energy(final=True)
        except Exception:
            log.warning("energy intervals not stored at shutdown", exc_info=True)
        finally:
            await self._stack.aclose()

    # -- energy intervals in SQL -----------------------------------------------------------
    def _count_ev_energy(self, delta_wh: float) -> None:
        if delta_wh > 0:
            minute = minute_of(self.clock())
            self._ev_minutes[minute] = self._ev_minutes.get(minute, 0.0) + delta_wh

    async def flush_energy(self, *, final: bool = False) -> None:
        """Store the drained solar minutes with their baselines, and the green split of closed minutes.

        Only the instance that runs the scheduler writes (every instance sees all telemetry, so the others
        would count it twice); a write that fails is kept and added to the next one. The others follow
        the baselines the writer stores: when they change, a follower counts again from them (replaying
        the readings since), so that, taking over, it adds exactly what the previous writer had not stored.
        """
        async with self._energy_lock:
            await self._flush_energy(final)

    async def _flush_energy(self, final: bool) -> None:
        writing = not self.clustered or self.leader
        if self.clustered and not (writing and self._energy_writer):
            stored = await self.store.load_solar_baselines()
            if _marks(stored) != self._baselines_seen:  # the writer stored more: count on from there
                self.solar.minutes.follow(stored)
                self._solar_unflushed.clear()
                self._baselines_seen = _marks(stored)
        self._energy_writer = writing
        drained = self.solar.minutes.drain()
        for key, wh in drained.items():
            self._solar_unflushed[key] = self._solar_unflushed.get(key, 0.0) + wh
            park_minute = (key[0].partition("/")[0], key[1])
            self._park_minutes[park_minute] = self._park_minutes.get(park_minute, 0.0) + wh
        now_minute = minute_of(self.clock())
        closed = [m for m in self._ev_minutes if final or m < now_minute - timedelta(minutes=1)]
        members = {park.id: park.member_id or "" for park in self.settings.parks}
        for minute in sorted(closed):
            ev_wh = self._ev_minutes.pop(minute)
            generated = {park: wh for (park, m), wh in self._park_minutes.items() if m == minute}
            split = split_interval({"ev": ev_wh}, generated, members)
            self._green_unflushed += [(park, minute, wh, ev_wh) for park, wh in split.park_wh.items() if wh > 0]
        for key in [k for k in self._park_minutes if k[1] < now_minute - timedelta(minutes=10)]:
            del self._park_minutes[key]
        if not writing:
            self._green_unflushed.clear()
            return
        if not self._solar_unflushed and not self._green_unflushed:
            return
        solar, green = self._solar_unflushed, self._green_unflushed
        self._solar_unflushed, self._green_unflushed = {}, []
        baselines = self.solar.minutes.baselines()
        try:
            await self.store.add_energy_minutes(solar, baselines, green)
        except Exception:
            log.warning("energy intervals not stored (database unavailable?); kept for the next try", exc_info=True)
            for key, wh in solar.items():
                self._solar_unflushed[key] = self._solar_unflushed.get(key, 0.0) + wh
            self._green_unflushed = green + self._green_unflushed
        else:
            self._baselines_seen = _marks(baselines)
            self.solar.minutes.trim(baselines)

    async def _open(self) -> None:
        settings = self.settings
        if settings.mqtt.url:
            self.mqtt_host, self.mqtt_port = settings.mqtt.host_port
        else:
            self.mqtt_host, self.mqtt_port = await self._stack.enter_async_context(embedded_broker())
            log.info("embedded MQTT broker on mqtt://%s:%d", self.mqtt_host, self.mqtt_port)
        self.store = await self._stack.enter_async_context(open_store(settings.database.url))
        self.bus = Bus(
            self.mqtt_host,
            self.mqtt_port,
            client_id=settings.mqtt.client_id or f"coopgrid-{settings.instance_id}",
            max_backoff_s=settings.mqtt.reconnect_max_s,
            clean_session=not persistent_session(settings),
        )
        ocpp = settings.ocpp
        self.central = CentralSystem(
            self.store,
            self.hub.publish,
            self.clock,
            unknown_chargers=ocpp.unknown_chargers,
            heartbeat_interval_s=ocpp.heartbeat_interval_s,
            response_timeout_s=ocpp.response_timeout_s,
            safe_limit_a=ocpp.safe_limit_a,
            lenient_by_default=ocpp.lenient,
            event_log=self.store,
            observe=self.metrics.observe,
            certificate_authority=(
                CertificateAuthority.load_or_create(ocpp.ca_cert, ocpp.ca_key) if ocpp.ca_cert and ocpp.ca_key else None
            ),
            max_frames_per_s=ocpp.max_frames_per_s,
            frame_burst=ocpp.frame_burst,
        )
        self.solar = SolarIngest(
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
            publish=self.hub.publish,
            clock=self.clock,
            prefix=settings.mqtt.prefix,
            stale_after_s=settings.solar.stale_after_s,
        )
        baselines = await self.store.load_solar_baselines()
        self.solar.minutes.restore(baselines)
        self._baselines_seen = _marks(baselines)
        self.forecast: ClearSkyForecast | None = None
        if settings.solar.latitude is not None and settings.solar.longitude is not None:
            self.forecast = ClearSkyForecast(
                settings.solar.latitude,
                settings.solar.longitude,
                sum(inv.rated_power_w for park in settings.parks for inv in park.inverters),
                clock=self.clock,
                altitude_m=settings.solar.altitude_m,
                tilt_deg=settings.solar.tilt_deg,
                azimuth_deg=settings.solar.azimuth_deg,
            )
        self.scheduler = Scheduler(
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
            green_power_w=self.solar.total_power_w,
            send_limit=self._send_limit,
            switch_phases=self._switch_phases,
            green_forecast_wh=self.forecast.energy_wh if self.forecast is not None else None,
            publish_allocation=self._publish_allocation,
            clock=self.scheduler_clock,
            debounce_s=settings.scheduler.debounce_s,
            tick_s=settings.scheduler.tick_s,
            min_change_a=settings.scheduler.min_change_a,
            hysteresis=HysteresisSettings(
                enable_delay_s=settings.scheduler.enable_delay_s,
                disable_delay_s=settings.scheduler.disable_delay_s,
                min_update_interval_s=settings.scheduler.min_update_interval_s,
                phase_switch_hold_s=settings.scheduler.phase_switch_hold_s,
                enable_threshold_w=settings.scheduler.enable_threshold_w,
                disable_threshold_w=settings.scheduler.disable_threshold_w,
            ),
        )
        self.cluster = Cluster(
            self.bus,
            self.central,
            prefix=settings.mqtt.prefix,
            instance_id=settings.instance_id,
            timeout_s=settings.ocpp.response_timeout_s + 5,
            deliver_remote_event=self.scheduler.on_event,
        )
        self.clustered = self.store.engine.dialect.name == "postgresql"
        self._energy_writer = not self.clustered
        for charger in settings.chargers:
            await self.central.register(
                ChargerRecord(id=charger.id, site_id=charger.site_id),
                lenient=charger.lenient,
                phases=charger.phases,
            )
            await self.store.set_credentials(
                charger.id,
                charger.security_profile,
                hash_secret(charger.password) if charger.password else None,
            )
        for tag in settings.id_tags:
            await self.store.put_id_tag(tag.id, tag.status)
        self.central.load_records(await self.store.load_chargers())
        self.shared_ingest: SharedIngest | None = None
        if settings.mqtt.share_group:
            self.shared_ingest = SharedIngest(
                self.bus,
                self.solar,
                prefix=settings.mqtt.prefix,
                group=settings.mqtt.share_group,
                instance_id=settings.instance_id,
                client_id=self.bus.client_id,
                leading=lambda: self.leader,
                may_adopt=lambda: self.clustered and self.leader,
            )
        else:
            for topic_filter in self.solar.topic_filters:
                self.bus.subscribe(topic_filter, self.solar.handle, qos=1)
        self.hub.subscribe(self._on_event)
        self.hub.subscribe(self.scheduler.on_event)
        influx = settings.influx
        self.influx = (
            InfluxWriter(
                influx.url,
                influx.token,
                influx.org,
                influx.bucket,
                batch_size=influx.batch_size,
                flush_interval_s=influx.flush_interval_s,
                max_buffer=influx.max_buffer,
            )
            if influx.url
            else None
        )
        if self.influx is not None:
            self.hub.subscribe(self.influx.on_event)
        if self.clustered:
            self.hub.subscribe(self.cluster.mirror)

        app = create_app(
            Api(
                settings=settings,
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
                green_energy_wh=self.green_energy_wh,
                is_leader=lambda: self.leader,
            )
        )
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        ssl_context = self._ssl_context()
        # A deep accept queue: after a redeploy thousands of chargers reconnect at once.
        tcp = web.TCPSite(runner, settings.http.host, settings.http.port, ssl_context=ssl_context, backlog=4096)
        await tcp.start()
        host, port = runner.addresses[0][:2]
        self.http_url = f"{'https' if ssl_context else 'http'}://{host}:{port}"
        log.info("HTTP and OCPP on %s (OCPP: %s/{id})", self.http_url, self.ocpp_url)

    def _ssl_context(self) -> ssl.SSLContext | None:
        """TLS for wss:// (profile 2) and, with a client CA, client certificates (profile 3)."""
        http = self.settings.http
        if http.tls_cert is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(http.tls_cert, http.tls_key)
        if http.tls_client_ca is not None:
            context.load_verify_locations(http.tls_client_ca)
            # Optional at the TLS layer: profile 1-2 chargers share the port;
            # the OCPP endpoint demands the certificate for profile 3 chargers.
            context.verify_mode = ssl.CERT_OPTIONAL
        return context

    # -- tasks ------------------------------------------------------------------
    def start(self, group: asyncio.TaskGroup) -> None:
        group.create_task(self.bus.run(), name="bus")
        group.create_task(self.central.run(), name="central-system")
        group.create_task(
            hold_leadership(self.store.engine, SCHEDULER_LOCK, self.scheduler.run, on_change=self._leading),
            name="scheduler",
        )
        group.create_task(self._housekeeping(), name="housekeeping")
        if self.influx is not None:
            group.create_task(self.influx.run(), name="influx")

    def _publish_meters(self) -> None:
        latest, self._meter_latest = self._meter_latest, {}
        for event in latest.values():
            self.bus.publish(
                self.topics.charger_meter(event.charge_point_id),
                {
                    "charge_point_id": event.charge_point_id,
                    "connector_id": event.connector_id,
                    "transaction_id": event.transaction_id,
                    "ts": event.ts.isoformat(),
                    "energy_wh": event.energy_wh,
                    "power_w": event.power_w,
                    "current_a": event.current_a,
                },
            )

    async def _housekeeping(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(1.0)
            ticks += 1
            self._publish_meters()
            self.cluster.flush_meters()
            if self.influx is not None:
                self.metrics.influx_queue.set(self.influx.queue_depth)
                if ticks % 10 == 0:
                    self._write_series()
            try:  # the database may be restarting: what is not stored now is stored at a later round
                if ticks % 5 == 0:
                    await self.flush_energy()
                if ticks % 30 == 0:  # chargers registered by other instances, in one query
                    self.central.load_records(await self.store.load_chargers())
            except Exception as exc:
                log.warning("housekeeping: database round skipped (%s)", exc)
            await self.solar.check_staleness()
            solar_w, ev_w = self.solar_power_w(), self.ledger.ev_power_w()
            if self.forecast is not None:
                self.forecast.observe(solar_w)
            self.history.tick(self.clock(), {"*": (solar_w, ev_w), **self._power_by_cooperative()}, 1.0)
            self.metrics.solar_power_w.set(solar_w)
            self.metrics.ev_power_w.set(ev_w)
            self.metrics.bus_reconnects.set(self.bus.reconnects)
            self.metrics.solar_messages.set(self.bus.received)
            self.metrics.solar_parsed.set(self.solar.parsed)
            self.metrics.bus_queued.set(self.bus.queued)
            self.metrics.bus_dropped.set(self.bus.dropped)
            self.metrics.bus_failed.set(self.bus.failed)
            self.metrics.scheduler_leader.set(1 if self.leader else 0)
            self.metrics.scheduler_run_s.set(self.scheduler.last_run_s)
            self.metrics.scheduler_runs.set(self.scheduler.runs)
            allocations = [self.scheduler.allocation(site.id) for site in self.settings.sites]
            self.metrics.green_routed_w.set(sum(float(a.get("green_w", 0.0)) for a in allocations if a))
            for reason, count in self.solar.rejects.items():
                self.metrics.solar_rejects.labels(reason=reason).set(count)

    def _power_by_cooperative(self) -> dict[str, tuple[float, float]]:
        """(solar_w, ev_w) of each cooperative: its members' parks, the chargers at the sites it runs."""
        sites_of: dict[str, set[str]] = {}
        for site in self.settings.sites:
            if site.cooperative_id is not None:
                sites_of.setdefault(site.cooperative_id, set()).add(site.id)
        power = {}
        for coop in self.settings.cooperatives:
            members = {m.id for m in coop.members}
            solar_w = sum(self.solar.park_power_w(p.id) for p in self.settings.parks if p.member_id in members)
            sites = sites_of.get(coop.id, set())
            chargers = {s.id for s in self.central.states() if s.site_id in sites}
            power[coop.id] = (solar_w if math.isfinite(solar_w) else 0.0, self.ledger.ev_power_w_of(chargers))
        return power

    # -- ports handed to the domain ------------------------------------------------
    def _leading(self, leading: bool) -> None:
        self.leader = leading
        if leading and self.shared_ingest is not None:
            self.shared_ingest.adopt_orphans()  # members that went away while another instance led

    async def _switch_phases(self, charge_point_id: str, connector_id: int, phases: int) -> None:
        """OCPP switches phases through the profile: the next limit carries numberPhases."""
        self._phases_in_use[(charge_point_id, connector_id)] = phases

    async def _send_limit(
        self, charge_point_id: str, connector_id: int, limit_a: float, transaction_id: int | None
    ) -> None:
        phases = self._phases_in_use.get((charge_point_id, connector_id))
        status = await self.cluster.set_current_limit(charge_point_id, connector_id, limit_a, transaction_id, phases)
        if status != "Accepted":
            raise ChargePointError(f"{charge_point_id} answered SetChargingProfile with {status}")

    def _write_series(self) -> None:
        """Park and cooperative totals into InfluxDB (every 10 s)."""
        assert self.influx is not None
        now = self.clock()
        self.influx.write(points_for_parks(now, self.solar.parks_view()))
        solar_w, ev_w = self.solar_power_w(), self.ledger.ev_power_w()
        fields: dict[str, Any] = {"solar_w": solar_w, "ev_w": ev_w, "green_w": min(solar_w, ev_w)}
        if self.history.today.green_share is not None:
            fields["green_share_today"] = self.history.today.green_share
        self.influx.write([influx_point("cooperative", now, {}, fields)])

    async def _publish_allocation(self, site_id: str, allocation: dict[str, Any]) -> None:
        if self.influx is not None:
            self.influx.write(points_for_allocation(site_id, allocation))
        self.bus.publish(self.topics.site_allocation(site_id), allocation, qos=1, retain=True)

    # -- events to the outside --------------------------------------------------------
    async def _on_event(self, event: object) -> None:
        self.metrics.count_event(type(event).__name__)
        if isinstance(event, ChargerConnected | ChargerDisconnected | ConnectorStatusChanged):
            cp_id = event.charge_point_id
            state = self.central.state(cp_id)
            self.metrics.chargers_connected.set(sum(1 for s in self.central.states() if s.connected))
            self.bus.publish(
                self.topics.charger_status(cp_id),
                {
                    "charge_point_id": cp_id,
                    "connected": self.central.is_connected(cp_id),
                    "instance": self.settings.instance_id,
                    "ocpp_version": state.ocpp_version,
                    "connectors": {str(k): v for k, v in sorted(state.connectors.items())},
                    "ts": event.ts.isoformat(),
                },
                qos=1,
                retain=True,
            )
        elif isinstance(event, MeterSample):
            self._count_ev_energy(
                self.ledger.meter(event.transaction_id, event.energy_wh, event.power_w, self.solar_power_w())
            )
            # Coalesced: the newest sample per connector goes out once a second (see _publish_meters),
            # so a charger flooding meter values costs the broker nothing extra.
            self._meter_latest[(event.charge_point_id, event.connector_id)] = event
        elif isinstance(event, TransactionStarted):
            self.ledger.start(event.transaction_id, event.charge_point_id, event.connector_id, event.meter_start_wh)
        elif isinstance(event, TransactionStopped):
            green = self.ledger.stop(event.transaction_id, event.meter_stop_wh, self.solar_power_w())
            if green is not None:
                await self.store.set_green_energy(event.transaction_id, green)

    # -- views --------------------------------------------------------------------------
    def solar_power_w(self) -> float:
        power = self.solar.total_power_w()
        return power if math.isfinite(power) else 0.0

    def green_energy_wh(self, record: TransactionRecord) -> float:
        live = self.ledger.green_wh(record.id)
        green = live if live is not None else (record.green_energy_wh or 0.0)
        return min(green, record.energy_wh)


def persistent_session(settings: Settings) -> bool:
    """Keep an MQTT session on the broker across restarts: with an external broker and a stable client id.

    The default client id names the process (host and pid), a new one at each start: a session kept
    under it would never be resumed, only fill the broker's queue. So the session persists when
    `mqtt.client_id` or `instance_id` is set; otherwise CoopGrid says how to get one.
    """
    if not (settings.mqtt.url and settings.mqtt.persistent_session):
        return False  # the embedded broker goes with the process: nothing to keep a session in
    if settings.mqtt.client_id or "instance_id" in settings.model_fields_set:
        return True
    log.warning(
        "mqtt: no persistent session (telemetry published while CoopGrid restarts is lost): "
        "set mqtt.client_id or instance_id (COOPGRID_MQTT__CLIENT_ID / COOPGRID_INSTANCE_ID) to a stable name"
    )
    return False


def _marks(baselines: dict[str, Baseline]) -> dict[str, tuple[datetime, float | None, float | None]]:
    return {key: (b.ts, b.energy_wh, b.power_w) for key, b in baselines.items()}


class _Stop(Exception):
    pass


async def _stop_when_set(event: asyncio.Event, platform: Platform) -> None:
    await event.wait()
    if platform.shared_ingest is not None:
        await platform.shared_ingest.stop()  # a follower leaves the share group; the leader says it is offline
    try:  # while this instance still leads: the next leader continues from what is stored now
        await platform.flush_energy()
    except Exception:
        log.warning("energy intervals not stored at shutdown", exc_info=True)
    raise _Stop


async def supervise(
    settings: Settings,
    stop: asyncio.Event,
    *,
    extra: Callable[[Platform, asyncio.TaskGroup], None] | None = None,
) -> None:
    """Run the platform (and `extra` tasks) in one TaskGroup until `stop` is set."""
    async with Platform(settings) as platform:
        try:
            async with asyncio.TaskGroup() as group:
                platform.start(group)
                if extra is not None:
                    extra(platform, group)
                group.create_task(_stop_when_set(stop, platform), name="stop")
        except* _Stop:
            pass
