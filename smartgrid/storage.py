"""Green energy through stationary batteries (pure): what a battery took from the sun, it gives back green.

No I/O, no clock. Part of the one green accounting (smartgrid.ledger calls `storage_minute` for each
closed minute of a pool that has batteries).

Each battery keeps its stored energy as a mix, counted as the AC energy that went in: green Wh per park
(solar that no EV took in that minute) and grey Wh (from the grid). Per minute, after the pool's generation
has gone straight into its EVs:

- **discharge** (first, from the mix as the minute began) takes `delivered / round-trip efficiency` out of
  the stock, each part in proportion; energy beyond the known stock (what was in the battery before the
  accounting knew it) is grey. Its green part goes into the pool's EVs as far as they still took grid
  energy that minute; a green discharge nobody took (exported, the site's other load) is not green in EVs.
- **charge** takes the pool's surplus first (green, per park in proportion to what each had left), the rest
  from the grid (grey).

So a battery never makes more green than the sun put in, and a park is credited for what its stored energy
later gave to EVs, in the minute it did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field


def _wh(value: float) -> float:
    return value if value > 0 and math.isfinite(value) else 0.0


@dataclass(slots=True)
class Stock:
    """A battery's stored energy by origin (AC energy in): green per park, grey."""

    green_wh: dict[str, float] = field(default_factory=dict)
    grey_wh: float = 0.0

    @property
    def total_wh(self) -> float:
        return sum(self.green_wh.values()) + self.grey_wh

    @property
    def green_share(self) -> float:
        total = self.total_wh
        return sum(self.green_wh.values()) / total if total > 0 else 0.0

    def take(self, wh: float) -> tuple[dict[str, float], float]:
        """Take `wh` (stock units) out in proportion; returns (green per park, grey), beyond the stock grey."""
        total = self.total_wh
        if total <= 0:
            return {}, wh
        share = min(1.0, wh / total)
        green = {park: stored * share for park, stored in self.green_wh.items()}
        for park, part in green.items():
            self.green_wh[park] -= part
        grey = self.grey_wh * share
        self.grey_wh -= grey
        return green, grey + max(0.0, wh - total)


@dataclass(frozen=True, slots=True)
class StorageMinute:
    """What a pool's batteries did in one minute, for the accounting."""

    ev_green_wh: dict[str, float]  # green energy from batteries into EVs, per park it came from
    charged_green_wh: float
    charged_grey_wh: float
    discharged_wh: float

    @property
    def to_evs_wh(self) -> float:
        return sum(self.ev_green_wh.values())


def storage_minute(
    stocks: dict[str, Stock],
    efficiency: Mapping[str, float],
    energy: Mapping[str, tuple[float, float]],
    surplus_wh: Mapping[str, float],
    ev_grid_wh: float,
) -> StorageMinute:
    """One minute of a pool's batteries: `energy` battery -> (charged, discharged) Wh on the AC side;
    `surplus_wh` the generation per park no EV took directly; `ev_grid_wh` what the EVs took beyond it.
    Updates `stocks`."""
    delivered_green: dict[str, float] = {}
    discharged = 0.0
    for battery_id, (_, out_raw) in sorted(energy.items()):
        out_wh = _wh(out_raw)
        if out_wh <= 0:
            continue
        eta = efficiency.get(battery_id, 1.0)
        eta = eta if 0 < eta <= 1 else 1.0
        stock = stocks.setdefault(battery_id, Stock())
        green, _ = stock.take(out_wh / eta)
        for park, wh in green.items():
            delivered_green[park] = delivered_green.get(park, 0.0) + wh * eta  # back in delivered (AC out) Wh
        discharged += out_wh
    offered = sum(delivered_green.values())
    into_evs = min(offered, _wh(ev_grid_wh))
    share = into_evs / offered if offered > 0 else 0.0
    ev_green = {park: wh * share for park, wh in delivered_green.items() if wh * share > 0}

    left = {park: _wh(wh) for park, wh in surplus_wh.items()}
    wanted = sum(_wh(charge) for charge, _ in energy.values())
    available = sum(left.values())
    green_total = min(wanted, available)
    charged_green = charged_grey = 0.0
    for battery_id, (in_raw, _) in sorted(energy.items()):
        in_wh = _wh(in_raw)
        if in_wh <= 0:
            continue
        stock = stocks.setdefault(battery_id, Stock())
        green_part = green_total * in_wh / wanted if wanted > 0 else 0.0
        for park, wh in left.items():
            if available > 0 and wh > 0:
                stock.green_wh[park] = stock.green_wh.get(park, 0.0) + green_part * wh / available
        stock.grey_wh += in_wh - green_part
        charged_green += green_part
        charged_grey += in_wh - green_part
    return StorageMinute(ev_green, charged_green, charged_grey, discharged)
