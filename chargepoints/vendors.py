"""Part of CentralSystem: inbound DataTransfer, answered by the handler registered for its vendor id
(OCPP 1.6 and 2.0.1/2.1); a vendor with none is answered UnknownVendorId."""

from __future__ import annotations

from typing import Any

from chargepoints.ports import DataTransferHandler


class VendorDataTransfer:
    _vendors: dict[str, DataTransferHandler]

    def register_vendor(self, vendor_id: str, handler: DataTransferHandler) -> None:
        """Answer chargers' DataTransfer of `vendor_id` with `handler` (others stay UnknownVendorId)."""
        if not 0 < len(vendor_id) <= 255:
            raise ValueError("vendor_id: 1-255 characters")
        self._vendors[vendor_id] = handler

    async def data_transfer(
        self, charge_point_id: str, vendor_id: str, message_id: str | None, data: Any
    ) -> dict[str, Any]:
        """A charger's DataTransfer, answered by its vendor's handler, UnknownVendorId when none is registered."""
        handler = self._vendors.get(vendor_id)
        if handler is None:
            return {"status": "UnknownVendorId"}
        status, out = await handler(charge_point_id, message_id, data)
        return {"status": status} if out is None else {"status": status, "data": out}
