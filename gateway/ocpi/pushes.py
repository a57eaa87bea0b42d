"""The durable push queue to partners: every call (a location's status, a session, a CDR, a command's
result) is stored before it is sent, sent in order per partner, retried with exponential backoff on any
failure (no answer in time, 5xx, a refused token, an OCPI error) and deleted only once the partner answers
it with success. Run by the leading instance only; what another instance queued is sent too."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from gateway.ocpi.client import CallFailed, PartnerClient
from gateway.repositories.ocpi import OcpiRepository
from gateway.settings import OcpiSettings

log = logging.getLogger(__name__)


def backoff_s(attempts: int, settings: OcpiSettings) -> float:
    """The pause after the `attempts`-th failure in a row: doubling from the first, up to the bound."""
    return float(min(settings.push_retry_max_s, settings.push_retry_initial_s * 2 ** max(attempts - 1, 0)))


class PushQueue:
    def __init__(self, repository: OcpiRepository, client: PartnerClient, settings: OcpiSettings,
                 clock: Callable[[], datetime], leading: Callable[[], bool]) -> None:  # fmt: skip
        self.repository = repository
        self.client = client
        self.settings = settings
        self.clock = clock
        self.leading = leading
        self._wake = asyncio.Event()

    async def enqueue(self, partner_id: str, method: str, module: str | None, path: str, body: dict[str, Any]) -> None:
        await self.repository.enqueue(partner_id, method, module, path, body, self.clock())
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                sent = await self.round() if self.leading() else 0
            except Exception as exc:  # the database restarting: the queue is where it was
                log.warning("ocpi: push round skipped (%s)", exc)
                sent = 0
            if sent:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=min(1.0, self.settings.push_retry_initial_s))
            except TimeoutError:
                pass

    async def round(self) -> int:
        """Each partner's oldest due call, sent; how many were acknowledged."""
        now = self.clock()
        partners = {p["id"]: p for p in await self.repository.partners("registered")}
        heads = await self.repository.heads()
        gone = {h["partner_id"] for h in heads} - set(partners)
        if gone:  # deleted or unregistered (on another instance, or while the cache of partners was old)
            await self.repository.drop(gone)
        due = [h for h in heads if h["next_ts"] <= now and h["partner_id"] in partners]
        results = await asyncio.gather(*(self._send(h, partners[h["partner_id"]]) for h in due))
        return sum(results)

    async def _send(self, push: dict[str, Any], partner: dict[str, Any]) -> int:
        module = push["module"]
        base = partner["endpoints"].get(module) if module else ""
        try:
            if base is None:
                raise CallFailed(f"the partner has no {module} endpoint")
            await self.client.call(push["method"], f"{base}{push['path']}", partner["token_b"], push["body"])
        except CallFailed as exc:
            attempts = push["attempts"] + 1
            delay = backoff_s(attempts, self.settings)
            log.info("ocpi: push %s to %s failed (%s); retry %d in %.1f s", push["id"], partner["id"], exc,
                     attempts, delay)  # fmt: skip
            await self.repository.failed(push["id"], str(exc), self.clock() + timedelta(seconds=delay))
            return 0
        await self.repository.acknowledged(push["id"])
        return 1
