"""What the roaming logic needs from outside, as Protocols: the edge (gateway/ocpi) provides them."""

from __future__ import annotations

from typing import Any, Protocol


class PartnerApi(Protocol):
    async def get(self, url: str, token: str) -> Any:
        """GET an OCPI URL of a partner with its token; the envelope's `data`. Raises PartnerError (or
        OcpiError for an OCPI error answered) when the answer is not a success."""
        ...


class ChargerCommands(Protocol):
    async def call(self, charge_point_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A CSMS-initiated OCPP call; the charger's answer (raises when it cannot be had)."""
        ...
