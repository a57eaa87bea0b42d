"""What a site's fuse leaves for its chargers, from its grid connection meter: pure, no clock, no I/O.

The meter measures everything behind the fuse, the site's own managed chargers included. The load the
scheduler does not control is, per phase, the measured current minus what its managed chargers draw on
that phase. The allocation core reads a site as one limit per phase and one base load; a metered site's
base load is the largest uncontrolled load of its phases, so that no phase exceeds the fuse.

Conservative on purpose:
- a managed session's current is what it is known to draw, never more than the limit it was last
  given: after a cut the meter may still see the old current for a moment, and counting the lower limit
  makes that moment count as uncontrolled load (less room), never as room; a draw reported before the
  last limit was applied is the old limit's, and the new limit counts (the scheduler passes none then);
- a single-phase session's current is not subtracted from any phase (which one it is on is not known):
  it stays in the uncontrolled load of its phase and is counted once more by the allocation;
- uncontrolled load below zero (the site's own generation exporting) counts as zero: room beyond the fuse
  lasts only as long as the sun does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from smartgrid.allocation import Site

PHASES = 3


@dataclass(frozen=True, slots=True)
class ManagedDraw:
    """One managed session at a site: its wiring, what it was last reported drawing and last given."""

    phases: int
    drawn_current_a: float | None
    offered_current_a: float | None


def managed_current_a(draw: ManagedDraw) -> float:
    """The current a session counts on each phase it uses (0 when nothing is known)."""
    drawn, offered = draw.drawn_current_a, draw.offered_current_a
    if drawn is None:
        return max(0.0, offered or 0.0)
    if offered is None:
        return max(0.0, drawn)
    return max(0.0, min(drawn, offered))


def uncontrolled_a(measured_a: Sequence[float], managed: Iterable[ManagedDraw]) -> tuple[float, ...]:
    """Per phase: the measured current minus the three-phase managed sessions' current, at least 0."""
    three_phase = sum(managed_current_a(d) for d in managed if d.phases >= PHASES)
    return tuple(max(0.0, m - three_phase) for m in measured_a)


def metered_site(
    site: Site, measured_a: Sequence[float], managed: Iterable[ManagedDraw]
) -> tuple[Site, tuple[float, ...]]:
    """The site as the allocation should see it now: its fuse, and the largest uncontrolled phase load as
    its base load (instead of the configured one). Also the uncontrolled load per phase."""
    loads = uncontrolled_a(measured_a, managed)
    return replace(site, base_load_a=max(loads, default=0.0)), loads
