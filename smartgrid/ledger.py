"""The green ledger: each session's energy split into green and grid as it is metered (pure).

No I/O, no clock: energy increments and the live solar power are handed in.
Each increment of a session's energy register is green in the proportion of
the cooperative's live solar power to the total power drawn by all EVs at that
moment, min(1, solar / EVs) — the cooperative pools its generation, so every
charging EV gets the same green share at a given instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class _Live:
    charge_point_id: str
    connector_id: int
    last_energy_wh: float
    power_w: float = 0.0
    green_wh: float = 0.0
    energy_wh: float = 0.0


@dataclass(slots=True)
class GreenLedger:
    live: dict[int, _Live] = field(default_factory=dict)
    _ev_power_w: float = 0.0

    def ev_power_w(self) -> float:
        """The power all charging EVs draw now (kept as a running total)."""
        return max(0.0, self._ev_power_w)

    def green_wh(self, transaction_id: int) -> float | None:
        session = self.live.get(transaction_id)
        return session.green_wh if session else None

    def start(self, transaction_id: int, charge_point_id: str, connector_id: int, meter_start_wh: float) -> None:
        self.live[transaction_id] = _Live(charge_point_id, connector_id, meter_start_wh)

    def _share(self, solar_w: float, ev_w: float) -> float:
        return 1.0 if ev_w <= 0 else min(1.0, max(0.0, solar_w) / ev_w)

    def meter(
        self, transaction_id: int | None, energy_wh: float | None, power_w: float | None, solar_w: float
    ) -> None:
        session = self.live.get(transaction_id) if transaction_id is not None else None
        if session is None:
            return
        if power_w is not None:
            new = max(0.0, power_w)
            self._ev_power_w += new - session.power_w
            session.power_w = new
        if energy_wh is not None:
            delta = energy_wh - session.last_energy_wh
            if delta > 0:
                session.green_wh += delta * self._share(solar_w, self.ev_power_w())
                session.energy_wh += delta
            session.last_energy_wh = energy_wh

    def stop(self, transaction_id: int, meter_stop_wh: float, solar_w: float) -> float | None:
        """Close a session; returns its green energy (Wh), None if it was never seen."""
        session = self.live.pop(transaction_id, None)
        if session is None:
            return None
        delta = meter_stop_wh - session.last_energy_wh
        if delta > 0:
            session.green_wh += delta * self._share(solar_w, self.ev_power_w())
        self._ev_power_w -= session.power_w
        if not self.live:
            self._ev_power_w = 0.0  # no drift from float sums
        return session.green_wh
