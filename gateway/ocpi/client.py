"""Calls to OCPI partners over HTTP (aiohttp): `Authorization: Token <base64 token>`, a request id on each
call, the answer read as an OCPI envelope. Timeouts, 5xx, refused tokens and OCPI errors all become
`CallFailed`, which the push queue retries."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from roaming.envelope import Envelope, OcpiError, PartnerError, parse_envelope
from roaming.paging import link_next


class CallFailed(PartnerError):
    """A call to a partner that did not succeed (no answer in time, an HTTP or OCPI error)."""


def authorization(token: str) -> str:
    return "Token " + base64.b64encode(token.encode()).decode()


class PartnerClient:
    """One aiohttp session for every partner; implements roaming.ports.PartnerApi."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PartnerClient:
        self._http = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()

    async def call(self, method: str, url: str, token: str, body: Any = None,
                   params: dict[str, str] | None = None) -> tuple[Envelope, dict[str, str]]:  # fmt: skip
        """One call; its envelope and headers. CallFailed unless HTTP 2xx with an OCPI status 1xxx."""
        assert self._http is not None, "PartnerClient used outside `async with`"
        request_id = str(uuid.uuid4())
        headers = {"Authorization": authorization(token), "X-Request-ID": request_id, "X-Correlation-ID": request_id}
        try:
            async with self._http.request(method, url, json=body, headers=headers, params=params) as response:
                text = await response.text()
                status, answer_headers = response.status, dict(response.headers)
        except TimeoutError:
            raise CallFailed(f"{method} {url}: no answer within {self._timeout.total:g} s") from None
        except aiohttp.ClientError as exc:
            raise CallFailed(f"{method} {url}: {type(exc).__name__}: {exc}") from None
        if not 200 <= status < 300:
            raise CallFailed(f"{method} {url}: HTTP {status}")
        try:
            envelope = parse_envelope(json.loads(text))
        except ValueError:
            raise CallFailed(f"{method} {url}: the answer is not JSON") from None
        except PartnerError as exc:
            raise CallFailed(f"{method} {url}: {exc}") from None
        if envelope.status_code >= 2000:
            raise CallFailed(f"{method} {url}: OCPI status {envelope.status_code} {envelope.status_message or ''}")
        return envelope, answer_headers

    async def get(self, url: str, token: str) -> Any:
        """roaming.ports.PartnerApi: GET, the envelope's data; an OCPI error answered stays an OcpiError."""
        envelope, _ = await self.call("GET", url, token)
        return envelope.data

    async def pages(self, url: str, token: str, limit: int = 100) -> AsyncIterator[list[Any]]:
        """A paged list of a partner's, page by page, following its `Link: <...>; rel="next"`."""
        following: str | None = url
        params: dict[str, str] | None = {"limit": str(limit)}
        seen = 0
        while following is not None and seen < 10_000:
            envelope, headers = await self.call("GET", following, token, params=params)
            if not isinstance(envelope.data, list):
                raise CallFailed(f"GET {following}: expected a list")
            yield envelope.data
            following, params, seen = link_next(headers.get("Link")), None, seen + 1


__all__ = ["CallFailed", "OcpiError", "PartnerClient", "authorization"]
