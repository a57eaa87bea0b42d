"""Part of CentralSystem: certificates. A station's CSR signed by CoopGrid's CA (CertificateSigned), and
ISO 15118 Plug & Charge's contract certificates checked through the configured OCSP responder."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from chargepoints.ports import CertificateAuthority, ContractCertificates, EVCertificateService

log = logging.getLogger("chargepoints.central")
EXI_RESPONSE_LIMIT = {"2.0.1": 7500, "2.1": 17_000}  # Get15118EVCertificateResponse.exiResponse, characters


class Certificates:
    # CentralSystem's (annotations only: a stub method here would shadow the real one)
    _ca: CertificateAuthority | None
    _contracts: ContractCertificates | None
    ev_certificates: EVCertificateService | None  # set by the composition root when configured
    record: Callable[[str, str, dict[str, Any]], Awaitable[None]]
    call: Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]
    _connected_version: Callable[[str], str | None]

    async def certificate_status(self, charge_point_id: str, hash_data: list[dict[str, Any]]) -> str | None:
        """Plug & Charge: the contract certificates' status (None: no contract roots are configured)."""
        if self._contracts is None:
            return None
        status = await self._contracts.status(hash_data)
        await self.record(charge_point_id, "ContractCertificate", {"hashData": hash_data, "status": status})
        return status

    async def certificate_pem_status(self, charge_point_id: str, pem: str) -> str | None:
        """Plug & Charge: an Authorize's contract certificate as PEM (None: no contract roots configured)."""
        if self._contracts is None:
            return None
        status = await self._contracts.pem_status(pem)
        await self.record(charge_point_id, "ContractCertificate", {"certificate": pem[:200], "status": status})
        return status

    async def ocsp_result(self, charge_point_id: str, item: dict[str, Any]) -> str | None:
        """A station's GetCertificateStatus, relayed to the configured OCSP responder (None: none configured)."""
        result = await self._contracts.ocsp_result(item) if self._contracts is not None else None
        await self.record(charge_point_id, "GetCertificateStatus", {"request": item, "answered": result is not None})
        return result

    async def ev_certificate(self, charge_point_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Get15118EVCertificate (M02): the EXI request relayed to the contract-certificate service as it
        came; its answer returned to the station. Without a service, or without an answer: Failed."""
        service = self.ev_certificates
        answer = await service.ev_certificate(charge_point_id, payload) if service is not None else None
        limit = EXI_RESPONSE_LIMIT.get(self._connected_version(charge_point_id) or "2.1", 17_000)
        if answer is not None and len(answer.get("exiResponse", "")) > limit:
            log.warning(
                "%s: the EV certificate's EXI response is over the %d characters OCPP allows", charge_point_id, limit
            )
            answer = None
        result = answer if answer is not None else {"status": "Failed", "exiResponse": ""}
        await self.record(
            charge_point_id, "Get15118EVCertificate", {"action": payload.get("action"), "status": result["status"]}
        )
        return result

    @property
    def can_sign(self) -> bool:
        return self._ca is not None

    async def deliver_certificate(
        self, charge_point_id: str, csr_pem: str, certificate_type: str | None = None
    ) -> None:
        """Sign the charger's CSR and send it back with CertificateSigned (2.0.1: with its certificateType)."""
        assert self._ca is not None
        try:
            chain = self._ca.sign_csr(charge_point_id, csr_pem)
        except ValueError as exc:
            log.warning("%s sent a CSR we cannot sign: %s", charge_point_id, exc)
            await self.record(charge_point_id, "SignCertificateRejected", {"reason": str(exc)})
            return
        payload = {"certificateChain": chain}
        if certificate_type is not None:
            payload["certificateType"] = certificate_type
        answer = await self.call(charge_point_id, "CertificateSigned", payload)
        await self.record(charge_point_id, "CertificateSigned", {"status": answer.get("status")})
