"""Hysteresis of the control loop: when a session may start, pause, get a new limit, switch phases.

Rules of this module: pure state machines, no asyncio, no clock reads. Every
decision takes `now_s` (monotonic seconds) from the caller, so tests advance
time by hand.

- Start only after enough green for `enable_delay_s`; pause only after too
  little for `disable_delay_s` (meanwhile the session is held at its minimum,
  from the grid if need be — site limits still hold, the allocation core
  enforces them).
- Thresholds: a waiting session must get its minimum with `enable_threshold_w`
  of green to spare; a charging one counts `disable_threshold_w` more green
  than there is before it is judged short.
- Per charger, a higher limit goes out at most every `min_update_interval_s`;
  a lower one always goes out at once (it is the safe direction).
- After a 1p/3p switch, the next switch waits `phase_switch_hold_s` (switching
  makes the EV stop and restart; doing it often wears contactors and cars).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HysteresisSettings:
    enable_delay_s: float = 0.0
    disable_delay_s: float = 0.0
    min_update_interval_s: float = 0.0
    phase_switch_hold_s: float = 0.0
    # a waiting session starts only with this much green to spare; a charging one pauses only when
    # this much is missing (evcc's thresholds; they keep sessions from taking turns when the sun hovers)
    enable_threshold_w: float = 0.0
    disable_threshold_w: float = 0.0

    @property
    def delays(self) -> bool:
        return self.enable_delay_s > 0 or self.disable_delay_s > 0


@dataclass(slots=True)
class _Gate:
    on: bool = False
    pending_since_s: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    enabled: bool  # may charge now
    hold_on: bool  # keep at least the minimum although the green does not suffice (disable delay running)


class OnOffGate:
    """Enable/disable delays per session key."""

    def __init__(self, settings: HysteresisSettings) -> None:
        self.settings = settings
        self._gates: dict[str, _Gate] = {}

    def is_on(self, key: str) -> bool:
        gate = self._gates.get(key)
        return gate is not None and gate.on

    def decide(self, key: str, wants_on: bool, now_s: float) -> Decision:
        gate = self._gates.setdefault(key, _Gate())
        if gate.on == wants_on:
            gate.pending_since_s = None
            return Decision(enabled=gate.on, hold_on=False)
        if gate.pending_since_s is None:
            gate.pending_since_s = now_s
        delay = self.settings.enable_delay_s if wants_on else self.settings.disable_delay_s
        if now_s - gate.pending_since_s >= delay:
            gate.on, gate.pending_since_s = wants_on, None
            return Decision(enabled=gate.on, hold_on=False)
        # waiting: an off session stays off, an on session is held at its minimum
        return Decision(enabled=gate.on, hold_on=gate.on)

    def force_off(self, key: str) -> None:
        """Pause at once (fail-safe, or the session could not get its minimum within the site)."""
        self._gates[key] = _Gate()

    def forget(self, key: str) -> None:
        self._gates.pop(key, None)


class UpdateLimiter:
    """Per charger connector: raises at most every min_update_interval_s, cuts always."""

    def __init__(self, settings: HysteresisSettings) -> None:
        self.settings = settings
        self._last_raise_s: dict[str, float] = {}

    def may_send(self, key: str, sent_a: float | None, new_a: float, now_s: float) -> bool:
        if sent_a is None or new_a <= sent_a:
            return True
        last = self._last_raise_s.get(key)
        return last is None or now_s - last >= self.settings.min_update_interval_s

    def sent(self, key: str, sent_a: float | None, new_a: float, now_s: float) -> None:
        if sent_a is None or new_a > sent_a:
            self._last_raise_s[key] = now_s

    def forget(self, key: str) -> None:
        self._last_raise_s.pop(key, None)


class PhaseHold:
    """The time of each session's last phase switch."""

    def __init__(self, settings: HysteresisSettings) -> None:
        self.settings = settings
        self._switched_at_s: dict[str, float] = {}

    def may_switch(self, key: str, now_s: float) -> bool:
        last = self._switched_at_s.get(key)
        return last is None or now_s - last >= self.settings.phase_switch_hold_s

    def switched(self, key: str, now_s: float) -> None:
        self._switched_at_s[key] = now_s

    def forget(self, key: str) -> None:
        self._switched_at_s.pop(key, None)
