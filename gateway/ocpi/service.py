"""OCPI 2.2.1 in the CPO role, wired: what the /ocpi routes use, the domain events turned into pushes, the
commands sent to chargers, the partners' tokens pulled. Built by the Platform; inert unless [ocpi] enabled."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from chargepoints.events import (
    ChargerConnected,
    ChargerDisconnected,
    ConnectorStatusChanged,
    MeterSample,
    TransactionStarted,
    TransactionStopped,
)
from chargepoints.ports import IdTagStatus
from gateway.ocpi.client import CallFailed, PartnerClient
from gateway.ocpi.commanding import Commanding
from gateway.ocpi.objects import Objects
from gateway.ocpi.pushes import PushQueue
from gateway.pricing import Pricing
from roaming.envelope import OcpiError, iso
from roaming.locations import evse_status
from roaming.sessions import cdr_object, session_object, session_patch
from roaming.tokens import Token, parse_authorization, parse_token

if TYPE_CHECKING:
    from chargepoints.ports import TransactionRecord
    from gateway.platform import Platform

log = logging.getLogger(__name__)

PARTNERS_TTL_S = 5.0  # registrations made on another instance are seen within this
REALTIME_AUTHORIZATION_S = 60.0  # a partner's real-time answer is taken again for the session's start


@dataclass(slots=True)
class Running:
    """A roaming session while it charges: whose token, its start reading, when it was last pushed."""

    partner_id: str
    token: Token
    meter_start_wh: float
    pushed_at: float
    auth_method: str


class Ocpi:
    # the events on_event handles: the event hub hands it no other
    event_types: tuple[type, ...] = (
        ConnectorStatusChanged,
        ChargerConnected,
        ChargerDisconnected,
        TransactionStarted,
        MeterSample,
        TransactionStopped,
    )

    def __init__(self, platform: Platform) -> None:
        self.settings = platform.settings.ocpi
        self.enabled = self.settings.enabled
        self.platform = platform
        self.store = platform.store
        self.clock = platform.now
        self.objects = Objects(platform.settings, platform.store, platform.central, platform.world, platform.now)
        self.party = self.objects.party
        self.client = PartnerClient(self.settings.request_timeout_s)
        self.pushes = PushQueue(platform.store.ocpi, self.client, self.settings, platform.now,
                                lambda: platform.leader)  # fmt: skip
        self.commanding = Commanding(self)
        self._running: dict[int, Running] = {}
        self._local: set[int] = set()  # running sessions on no partner's token
        self._work: asyncio.Queue[Callable[[], Awaitable[None]]] = asyncio.Queue()
        self._partners: tuple[float, list[dict[str, Any]]] = (-PARTNERS_TTL_S, [])
        self._realtime: dict[str, tuple[IdTagStatus, float]] = {}  # id tag -> (the partner's answer, when)
        if self.enabled:
            platform.repository.remote_authorization = self.realtime

    @property
    def base_url(self) -> str:
        return (self.settings.public_url or self.platform.http_url).rstrip("/")

    def later(self, work: Callable[[], Awaitable[None]]) -> None:
        """Work that outlives a request (a command's call to a charger, a pull of tokens): run in run()'s group."""
        self._work.put_nowait(work)

    async def run(self) -> None:
        if not self.enabled:
            return
        async with self.client, asyncio.TaskGroup() as group:
            group.create_task(self.pushes.run(), name="ocpi-pushes")
            group.create_task(self._pull_tokens_every(), name="ocpi-tokens")
            while True:
                work = await self._work.get()
                group.create_task(self._guarded(work), name="ocpi-work")

    @staticmethod
    async def _guarded(work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except Exception:
            log.exception("ocpi: background work failed")

    async def registered(self) -> list[dict[str, Any]]:
        """The registered partners, read at most every PARTNERS_TTL_S (each status change asks)."""
        if time.monotonic() - self._partners[0] >= PARTNERS_TTL_S:
            self._partners = (time.monotonic(), await self.store.ocpi.partners("registered"))
        return self._partners[1]

    def partners_changed(self) -> None:
        self._partners = (-PARTNERS_TTL_S, [])

    # -- tokens ----------------------------------------------------------------------------------------------
    async def store_token(self, partner_id: str, token: Token) -> None:
        """A partner's token, and the id tag a charger presents for it (unless it is one of our own tags: an
        id tag that is no partner's token)."""
        owns = await self.store.ocpi.owns_id_tag(token.uid) or await self.store.get_id_tag(token.uid) is None
        await self.store.ocpi.put_token(partner_id, token.as_dict(), token.last_updated, owns_id_tag=owns)
        if owns:
            await self.store.put_id_tag(token.uid, token.id_tag_status, type_=token.ocpp_type)

    async def pull_tokens(self, partner: dict[str, Any]) -> int:
        """The partner's tokens (its tokens SENDER interface), page by page; how many were stored."""
        url = partner["endpoints"].get("tokens/SENDER")
        if url is None or partner["state"] != "registered":
            return 0
        count = 0
        async for page in self.client.pages(url, partner["token_b"]):
            for item in page:
                try:
                    await self.store_token(partner["id"], parse_token(item))
                    count += 1
                except OcpiError as exc:
                    log.warning("ocpi: a token of %s skipped: %s", partner["id"], exc.message)
        return count

    async def _pull_tokens_every(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tokens_pull_s)
            if not self.platform.leader:
                continue
            for partner in await self.store.ocpi.partners("registered"):
                try:
                    await self.pull_tokens(partner)
                except CallFailed as exc:
                    log.warning("ocpi: tokens of %s not pulled (%s)", partner["id"], exc)

    async def authorize(self, partner: dict[str, Any], uid: str, kind: str = "RFID") -> Any:
        """Real-time authorization: `POST {tokens}/{uid}/authorize?type=` at the partner; its AuthorizationInfo."""
        url = partner["endpoints"].get("tokens/SENDER")
        if url is None:
            raise CallFailed("the partner has no tokens endpoint")
        envelope, _ = await self.client.call("POST", f"{url}/{uid}/authorize", partner["token_b"],
                                             params={"type": kind})  # fmt: skip
        return envelope.data

    async def realtime(self, id_tag: str) -> IdTagStatus | None:
        """A charger's id tag that is a partner's token whitelisted NEVER: the partner's real-time answer (for
        REALTIME_AUTHORIZATION_S); None (the tag stays Invalid) for any other, or when the partner cannot say."""
        cached = self._realtime.get(id_tag)
        if cached is not None and time.monotonic() - cached[1] < REALTIME_AUTHORIZATION_S:
            return cached[0]
        try:
            found = await self.store.ocpi.token_by_uid(id_tag)
            partner = None if found is None else await self.store.ocpi.get_partner(found[0])
        except Exception as exc:  # the database away: the charger hears what its id tag says (Invalid)
            log.warning("ocpi: real-time authorization skipped (%s)", exc)
            return None
        if found is None:
            return None
        token = parse_token(found[1])
        if not token.valid or token.whitelist != "NEVER" or partner is None or partner["state"] != "registered":
            return None
        try:
            info = parse_authorization(await self.authorize(partner, id_tag, token.type))
        except (CallFailed, OcpiError) as exc:
            log.warning("ocpi: real-time authorization of a token of %s failed (%s)", partner["id"], exc)
            return None
        status = IdTagStatus(info.id_tag_status)
        self._realtime[id_tag] = (status, time.monotonic())
        return status

    # -- events into pushes -------------------------------------------------------------------------------
    async def on_event(self, event: object) -> None:
        if not self.enabled:
            return
        if isinstance(event, ConnectorStatusChanged):
            state = self.platform.central.state(event.charge_point_id)
            await self._push_evse(event.charge_point_id, {**state.connectors, event.connector_id: event.status},
                                  event.ts)  # fmt: skip
        elif isinstance(event, (ChargerConnected, ChargerDisconnected)):
            await self._push_evse(event.charge_point_id, None, event.ts)
        elif isinstance(event, TransactionStarted):
            await self._session_started(event)
        elif isinstance(event, MeterSample) and event.transaction_id is not None:
            if event.transaction_id not in self._running and event.transaction_id not in self._local:
                await self._adopt(event.transaction_id)  # running since before this process started
            if event.transaction_id in self._running:
                await self._session_metered(event)
        elif isinstance(event, TransactionStopped):
            await self._session_stopped(event)

    async def _push_evse(self, charge_point_id: str, connectors: dict[int, str] | None, ts: datetime) -> None:
        receivers = [p for p in await self.registered() if "locations/RECEIVER" in p["endpoints"]]
        facts = await self.objects.charger(charge_point_id, connectors=connectors) if receivers else None
        if facts is None:
            return
        ids = sorted(k for k in facts.connectors if k > 0) or [1]
        body = {
            "status": evse_status(facts.connected, [facts.connectors.get(k, "") for k in ids]),
            "last_updated": iso(ts),
        }
        country, party = self.party
        for partner in receivers:
            await self.pushes.enqueue(partner["id"], "PATCH", "locations/RECEIVER",
                                      f"/{country}/{party}/{quote(facts.site_id, safe='')}/"
                                      f"{quote(charge_point_id, safe='')}", body)  # fmt: skip

    def _session_path(self, session_id: str) -> str:
        country, party = self.party
        return f"/{country}/{party}/{quote(session_id, safe='')}"

    async def _session_started(self, event: TransactionStarted) -> None:
        found = await self.objects.partner_token(event.id_tag)
        record = None if found is None else await self.platform.repository.get_transaction(event.transaction_id)
        if found is None or record is None:
            self._local.add(event.transaction_id)
            return  # not a roaming session: our own member's, or a guest's
        partner_id, token = found
        method = "COMMAND" if self.commanding.started_by_command(event.id_tag) else "WHITELIST"
        self._running[event.transaction_id] = Running(partner_id, token, event.meter_start_wh, time.monotonic(),
                                                      method)  # fmt: skip
        facts = self.objects.session_facts(record, token, energy_wh=0.0, auth_method=method, updated=event.ts)
        await self.pushes.enqueue(partner_id, "PUT", "sessions/RECEIVER", self._session_path(facts.session_id),
                                  session_object(facts, self.party))  # fmt: skip

    async def _adopt(self, transaction_id: int) -> None:
        record = await self.platform.repository.get_transaction(transaction_id)
        found = None if record is None or not record.active else await self.objects.partner_token(record.id_tag)
        if record is None or found is None:
            self._local.add(transaction_id)
            return
        auth = "COMMAND" if self.commanding.started_by_command(record.id_tag) else "WHITELIST"
        self._running[transaction_id] = Running(found[0], found[1], record.meter_start_wh, 0.0, auth)

    async def _session_metered(self, event: MeterSample) -> None:
        running = self._running[event.transaction_id or 0]
        if event.energy_wh is None or time.monotonic() - running.pushed_at < self.settings.session_push_s:
            return
        record = await self.platform.repository.get_transaction(event.transaction_id or 0)
        if record is None:
            return
        running.pushed_at = time.monotonic()
        energy_wh = event.energy_wh - running.meter_start_wh
        facts = self.objects.session_facts(record, running.token, energy_wh=energy_wh, auth_method=running.auth_method,
                                           updated=event.ts, cost=await self._cost(record, energy_wh))  # fmt: skip
        await self.pushes.enqueue(running.partner_id, "PATCH", "sessions/RECEIVER",
                                  self._session_path(facts.session_id), session_patch(facts))  # fmt: skip

    async def _session_stopped(self, event: TransactionStopped) -> None:
        running = self._running.pop(event.transaction_id, None)
        self._local.discard(event.transaction_id)
        record = await self.platform.repository.get_transaction(event.transaction_id)
        if record is None:
            return
        if running is None:
            found = await self.objects.partner_token(record.id_tag)
            if found is None:
                return
            running = Running(found[0], found[1], record.meter_start_wh, 0.0, "WHITELIST")
        facts = self.objects.session_facts(record, running.token, auth_method=running.auth_method, updated=event.ts,
                                           cost=await self._cost(record, record.energy_wh))  # fmt: skip
        await self.pushes.enqueue(running.partner_id, "PATCH", "sessions/RECEIVER",
                                  self._session_path(facts.session_id), session_patch(facts))  # fmt: skip

    async def _cost(self, record: TransactionRecord, energy_wh: float) -> dict[str, Any] | None:
        """The session's cost so far, computed where every cost is (gateway.pricing, billing.tariff)."""
        pricing = await Pricing.load(self.store, self.platform.ledger, [record])
        return pricing.cost(record, energy_wh, self.platform.energy.green_energy_wh(record), self.clock())

    async def cdr_issued(self, cdr: dict[str, Any] | None) -> None:
        """A CDR just issued (billing): POSTed to the partner whose token the session ran on."""
        if not self.enabled or cdr is None:
            return
        body = cdr["cdr"]
        found = await self.objects.partner_token(str(body.get("cdr_token", {}).get("uid", "")))
        if found is None:
            return
        partner_id, token = found
        method = "COMMAND" if self.commanding.started_by_command(token.uid, keep=False) else "WHITELIST"
        place = await self.objects.cdr_place(body)
        await self.pushes.enqueue(
            partner_id, "POST", "cdrs/RECEIVER", "", cdr_object(body, token, place, auth_method=method)
        )
