"""Which cooperative's pool of green energy each park feeds and each site draws from, as the file says."""

from __future__ import annotations

from gateway.settings import Settings


def only_cooperative(settings: Settings) -> str:
    """The cooperative that sites and parks without one belong to: the installation's only one (else none)."""
    return settings.cooperatives[0].id if len(settings.cooperatives) == 1 else ""


def park_members(settings: Settings) -> dict[str, str]:
    return {park.id: park.member_id or "" for park in settings.parks}


def park_pools(settings: Settings) -> dict[str, str]:
    """park -> the cooperative whose members own it (the pool its generation goes to)."""
    coop_of = {member.id: coop.id for coop in settings.cooperatives for member in coop.members}
    return {park.id: coop_of.get(park.member_id or "", only_cooperative(settings)) for park in settings.parks}


def site_pools(settings: Settings) -> dict[str, str]:
    """site -> the cooperative that runs it (the pool its sessions draw green energy from)."""
    return {site.id: site.cooperative_id or only_cooperative(settings) for site in settings.sites}
