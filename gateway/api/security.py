"""Security-profile upgrades from REST: tell a charger to use a higher profile; it counts once it reconnects."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chargepoints.security_profiles import UpgradeRefused, accepted, check_upgrade, upgrade_calls
from gateway.api.chargers import commanding
from gateway.api.context import api, error
from gateway.api.params import read_body
from gateway.api.table import Route


class SecurityUpgrade(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: int = Field(ge=1, le=3, description="the profile to move to: higher than the charger's")
    csms_url: str | None = Field(
        None,
        pattern=r"^wss?://",
        max_length=512,
        description="2.0.1/2.1: the URL the station is to use (default: wss:// on the host this request reached)",
    )
    configuration_slot: int = Field(1, ge=0, le=99, description="2.0.1/2.1: the network-profile slot written")


async def upgrade_security_profile(request: web.Request) -> web.Response:
    """Send the upgrade (1.6 ChangeConfiguration SecurityProfile; 2.x SetNetworkProfile, priority, Reset).
    Once accepted, both the current and the new profile open until the charger connects with the new one;
    from then on only the new one does."""
    context = api(request)
    charge_point_id = request.match_info["charge_point_id"]
    body = await read_body(request, SecurityUpgrade)
    credentials = await context.store.get_credentials(charge_point_id)
    if credentials is None:
        return error(404, "NotFound", f"no charge point {charge_point_id!r}")
    current, password_hash = credentials
    try:
        check_upgrade(
            current, body.profile, tls=context.settings.http.tls_cert is not None, has_password=bool(password_hash)
        )
    except UpgradeRefused as exc:
        return error(409, "UpgradeRefused", str(exc))
    version = context.central.state(charge_point_id).ocpp_version or "1.6"
    url = body.csms_url or f"wss://{request.host}/ocpp/"
    steps = []
    for action, payload in upgrade_calls(version, body.profile, url, body.configuration_slot):
        answer = await commanding(charge_point_id, context.cluster.call(charge_point_id, action, payload))
        if isinstance(answer, web.Response):
            return answer
        steps.append({"action": action, "answer": answer})
        if not accepted(action, answer):
            return web.json_response({"status": "Rejected", "profile": current, "steps": steps})
    await context.store.set_next_security_profile(charge_point_id, body.profile)
    return web.json_response(
        {"status": "Accepted", "profile": current, "pending_profile": body.profile, "steps": steps}
    )


ROUTES: tuple[Route, ...] = (
    Route(
        "post",
        "/api/chargepoints/{charge_point_id}/security-profile",
        "security-profile",
        upgrade_security_profile,
        "Upgrade a charger's security profile: sent over OCPP, taken once the charger reconnects with it "
        "(the old profile is refused from then on)",
        body=SecurityUpgrade,
        free_response=True,
        errors=(404, 409, 422, 502, 504),
    ),
)
