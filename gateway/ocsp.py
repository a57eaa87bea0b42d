"""ISO 15118 Plug & Charge: contract certificates checked with the configured OCSP responder (the edge).

`OcspChecker` is the central system's `ContractCertificates` port: for each certificate an Authorize names by
its hash data, the issuer must be one of the installation's contract-certificate CAs (`ocpp.contract_roots`),
and the responder at `ocpp.ocsp_responder_url` (never the URL the station sends) must say it is good, in an
answer signed by that issuer. The rules are chargepoints.contracts' (pure); this module only sends the request.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
from cryptography.x509 import ocsp

from chargepoints.contracts import ContractRoots, hash_data_of, ocsp_request, ocsp_verdict, parse_hash_data

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 65536
MAX_OCSP_RESULT = 5500  # GetCertificateStatusResponse.ocspResult, base64


class OcspChecker:
    def __init__(
        self, roots: ContractRoots, responder_url: str, *, timeout_s: float, clock: Callable[[], datetime]
    ) -> None:
        self.roots = roots
        self.responder_url = responder_url
        self.timeout_s = timeout_s
        self.clock = clock

    async def status(self, hash_data: list[dict[str, Any]]) -> str:
        """An AuthorizeCertificateStatus for the certificates named (the first that is not Accepted)."""
        for item in hash_data:
            try:
                data = parse_hash_data(item)
            except ValueError as exc:
                log.info("contract certificate hash data refused: %s", exc)
                return "CertChainError"
            issuer = self.roots.issuer_of(data)
            if issuer is None:
                return "CertChainError"  # not issued by a contract CA this installation trusts
            answer = await self._ask(ocsp_request(data))
            verdict = "NoCertificateAvailable" if answer is None else ocsp_verdict(answer, data, issuer, self.clock())
            if verdict != "Accepted":
                return verdict
        return "Accepted"

    async def pem_status(self, pem: str) -> str:
        """An Authorize's `certificate` (a PEM chain): checked as its hash data would be."""
        try:
            item = hash_data_of(pem, self.roots)
        except ValueError as exc:
            log.info("contract certificate refused: %s", exc)
            return "CertChainError"
        return await self.status([item])

    async def ocsp_result(self, item: dict[str, Any]) -> str | None:
        """A station's GetCertificateStatus: the responder's answer, base64 (None: bad data, no answer, too long)."""
        try:
            data = parse_hash_data(item)
        except ValueError as exc:
            log.info("GetCertificateStatus data refused: %s", exc)
            return None
        answer = await self._ask(ocsp_request(data))
        if answer is None:
            return None
        try:
            if ocsp.load_der_ocsp_response(answer).response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
                return None
        except ValueError:
            return None
        encoded = base64.b64encode(answer).decode()
        return encoded if len(encoded) <= MAX_OCSP_RESULT else None

    async def _ask(self, request: bytes) -> bytes | None:
        """The responder's DER answer; None when it cannot be had (unreachable, slow, not 200, too long)."""
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        headers = {"Content-Type": "application/ocsp-request", "Accept": "application/ocsp-response"}
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.post(self.responder_url, data=request, headers=headers) as response,
            ):
                if response.status != 200:
                    log.warning("OCSP responder answered HTTP %d", response.status)
                    return None
                body = await response.content.read(MAX_RESPONSE_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("OCSP responder not reached: %s", exc)
            return None
        return body if len(body) <= MAX_RESPONSE_BYTES else None
