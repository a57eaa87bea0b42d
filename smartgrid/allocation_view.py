"""Part of the Scheduler: each site's allocation as published (to the bus and the API), and where its
limit came from (the grid meter or the static configuration)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from smartgrid.allocation import Setpoint, Site, Snapshot
from smartgrid.ports import PublishAllocation

log = logging.getLogger("smartgrid.scheduler")


class AllocationView:
    # the Scheduler's (annotations only)
    sites: dict[str, Site]
    _wall_clock: Callable[[], datetime] | None
    _allocations: dict[str, dict[str, Any]]
    _publish_allocation: PublishAllocation
    _effective: dict[str, Site]
    _measured: dict[str, Any]
    _uncontrolled: dict[str, Any]
    _meter_state: dict[str, Any]

    async def _publish(self, snapshot: Snapshot, setpoints: dict[str, Setpoint]) -> None:
        ts = self._wall_clock().isoformat() if self._wall_clock is not None else None
        for site_id in self.sites:
            points = [p for p in setpoints.values() if p.site_id == site_id]
            allocation = {
                "site_id": site_id,
                "ts": ts,
                "green_power_w": round(snapshot.green_power_w, 1),
                "green_w": round(sum(p.green_w for p in points), 1),
                "grid_w": round(sum(p.grid_w for p in points), 1),
                "grid": self._grid_view(site_id),
                "setpoints": [
                    {
                        "charge_point_id": p.charge_point_id,
                        "connector_id": p.connector_id,
                        "limit_a": round(p.limit_a, 2),
                        "phases": p.phases,
                        "power_w": round(p.power_w, 1),
                        "green_w": round(p.green_w, 1),
                        "grid_w": round(p.grid_w, 1),
                    }
                    for p in points
                ],
            }
            previous = self._allocations.get(site_id)
            self._allocations[site_id] = allocation
            if previous is None or _published_part(previous) != _published_part(allocation):
                try:
                    await self._publish_allocation(site_id, allocation)
                except Exception as exc:
                    log.warning("scheduler: allocation of %s not published (%s)", site_id, exc)

    def _grid_view(self, site_id: str) -> dict[str, Any]:
        """Where the site's limit came from: its meter (`meter`) or the static configuration (`static`)."""
        site = self._effective.get(site_id) or self.sites[site_id]
        metered = site_id in self._measured and site_id in self._uncontrolled
        measured = self._measured.get(site_id)
        return {
            "source": "meter" if metered else "static",
            "meter": self._meter_state.get(site_id),
            "grid_limit_a": site.grid_limit_a,
            "base_load_a": round(site.base_load_a, 2),
            "measured_a": [round(c, 2) for c in measured] if metered and measured else None,
            "uncontrolled_a": [round(c, 2) for c in self._uncontrolled[site_id]] if metered else None,
        }

    def meter_fallback(self, site_id: str) -> bool | None:
        """None: the site has no meter this scheduler heard of; True: it runs on its static limit."""
        if site_id not in self._meter_state:
            return None
        return site_id not in self._measured

    def allocation(self, site_id: str) -> dict[str, Any] | None:
        return self._allocations.get(site_id)


def _published_part(allocation: dict[str, Any]) -> dict[str, Any]:
    """What a change of is worth publishing: not the time, nor the meter's every reading (only its source)."""
    grid = allocation.get("grid") or {}
    return {
        **{k: v for k, v in allocation.items() if k not in ("ts", "grid")},
        "grid": (grid.get("source"), grid.get("meter")),
    }
