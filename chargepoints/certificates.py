"""Part of CentralSystem: certificates. A station's CSR signed by CoopGrid's CA (CertificateSigned), and
ISO 15118 Plug & Charge's contract certificates checked through the configured OCSP responder."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from chargepoints.ports import CertificateAuthority, ContractCertificates

log = logging.getLogger("chargepoints.central")


class Certificates:
    # CentralSystem's (annotations only: a stub method here would shadow the real one)
    _ca: CertificateAuthority | None
    _contracts: ContractCertificates | None
    record: Callable[[str, str, dict[str, Any]], Awaitable[None]]
    call: Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]

    async def certificate_status(self, charge_point_id: str, hash_data: list[dict[str, Any]]) -> str | None:
        """Plug & Charge: the contract certificates' status (None: no contract roots are configured)."""
        if self._contracts is None:
            return None
        status = await self._contracts.status(hash_data)
        await self.record(charge_point_id, "ContractCertificate", {"hashData": hash_data, "status": status})
        return status

    async def ocsp_result(self, charge_point_id: str, item: dict[str, Any]) -> str | None:
        """A station's GetCertificateStatus, relayed to the configured OCSP responder (None: none configured)."""
        result = await self._contracts.ocsp_result(item) if self._contracts is not None else None
        await self.record(charge_point_id, "GetCertificateStatus", {"request": item, "answered": result is not None})
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
