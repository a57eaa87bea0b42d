"""ISO 15118 Plug & Charge: a station's Get15118EVCertificate relayed to the contract-certificate service.

The EV's EXI request goes, as the station sent it (`iso15118SchemaVersion`, `action`, `exiRequest`, with the
station's id as `chargingStationId`), in one JSON POST to `ocpp.contract_service_url`; the service answers
`{"status": "Accepted"|"Failed", "exiResponse": "<base64 EXI>"}`, which goes back to the station. Contract
certificate pools speak their own protocols: this JSON relay is what an adapter in front of one offers.
An answer that is not that (an HTTP error, a timeout, other JSON, an EXI response longer than OCPP
allows the station's version) is none: the station is answered Failed, and the reason logged.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

MAX_EXI_RESPONSE = 17_000  # the longest any version takes (2.1); the central system holds 2.0.1 to 7,500


class ContractService:
    def __init__(self, url: str, *, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.failures = 0

    async def ev_certificate(self, charge_point_id: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        body = {**payload, "chargingStationId": charge_point_id}
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http, http.post(self.url, json=body) as response:
                if response.status != 200:
                    raise ValueError(f"HTTP {response.status}")
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            self.failures += 1
            log.warning("%s: Get15118EVCertificate not relayed (%s)", charge_point_id, str(exc)[:200])
            return None
        status = answer.get("status") if isinstance(answer, dict) else None
        exi = answer.get("exiResponse") if isinstance(answer, dict) else None
        if status not in ("Accepted", "Failed") or not isinstance(exi, str) or len(exi) > MAX_EXI_RESPONSE:
            self.failures += 1
            log.warning("%s: the contract-certificate service's answer is not {status, exiResponse}", charge_point_id)
            return None
        return {"status": status, "exiResponse": exi}
