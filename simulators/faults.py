"""Faults a simulated charger can inject: what real chargers and real networks do to a central system.

A `Faults` value is attached to one simulated charge point. Each field is one
behaviour seen in the field (see the project's field notes):

- `drop_every_s`: the TCP connection breaks (no close frame) every so many real
  seconds, jittered ±50 %; the charger reconnects with backoff and replays what
  it queued meanwhile.
- `answer_delay_s`: the charger takes this long (real seconds) to answer every
  call of the central system.
- `duplicate_rate`: this fraction of transaction messages (StartTransaction,
  MeterValues, StopTransaction, TransactionEvent) is sent twice, as chargers do
  that missed or doubted an answer.
- `quirks`: payload quirks of real chargers, by name (`QUIRKS`), or a brand
  preset that stands for a set of them (`BRANDS`).
- `reject_profiles`: every SetChargingProfile is answered `Rejected`.

A reconnect storm is a fleet-wide fault: `simulators.fleet.Fleet.storm()`.

`Faults.parse("drop=30,slow=2,dup=0.1,quirks=long-strings+double-stop,reject-profiles")`
reads the command-line and scenario form.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

QUIRKS: dict[str, str] = {
    "no-subprotocol": "opens the WebSocket without a Sec-WebSocket-Protocol header",
    "long-strings": "serial number and firmware version longer than the schema allows",
    "unknown-measurand": "meter values carry a measurand the schema does not know",
    "enum-case": "status values in the wrong letter case ('charging')",
    "double-stop": "every StopTransaction is sent twice",
    "zero-register": "the energy register reads 0 in every fifth sample",
    "connector0-sum": "meter values for connector 0 repeat the sum of all connectors",
}

# Presets named after the chargers the field notes name; the rest are named by behaviour.
BRANDS: dict[str, frozenset[str]] = {
    "grizzl-e": frozenset({"no-subprotocol"}),
    "legacy-firmware": frozenset({"long-strings", "unknown-measurand", "enum-case"}),
    "shutdown-simulator": frozenset({"double-stop"}),
    "glitchy-meter": frozenset({"zero-register", "connector0-sum"}),
}


class FaultSpecError(ValueError):
    """A fault specification that cannot be read; the message names the part."""


@dataclass(frozen=True, slots=True)
class Faults:
    drop_every_s: float = 0.0
    answer_delay_s: float = 0.0
    duplicate_rate: float = 0.0
    quirks: frozenset[str] = field(default_factory=frozenset)
    reject_profiles: bool = False

    def __post_init__(self) -> None:
        if self.drop_every_s < 0 or self.answer_delay_s < 0:
            raise FaultSpecError("drop and slow take a number of seconds >= 0")
        if not 0.0 <= self.duplicate_rate <= 1.0:
            raise FaultSpecError(f"dup must be a fraction in [0, 1], got {self.duplicate_rate}")
        unknown = set(self.quirks) - set(QUIRKS)
        if unknown:
            raise FaultSpecError(
                f"unknown quirk(s) {sorted(unknown)}; known: {sorted(QUIRKS)} or brands {sorted(BRANDS)}"
            )

    @property
    def any(self) -> bool:
        return self != Faults()

    def has(self, quirk: str) -> bool:
        return quirk in self.quirks

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """`drop=S,slow=S,dup=F,quirks=a+b,reject-profiles`; an empty spec is no fault."""
        faults = cls()
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, _, value = part.partition("=")
            try:
                if key == "drop":
                    faults = replace(faults, drop_every_s=float(value))
                elif key == "slow":
                    faults = replace(faults, answer_delay_s=float(value))
                elif key == "dup":
                    faults = replace(faults, duplicate_rate=float(value))
                elif key == "quirks":
                    faults = replace(faults, quirks=faults.quirks | expand_quirks(value.split("+")))
                elif key == "reject-profiles" and not value:
                    faults = replace(faults, reject_profiles=True)
                else:
                    raise FaultSpecError(
                        f"unknown fault {part!r}; use drop=S, slow=S, dup=F, quirks=a+b, reject-profiles"
                    )
            except ValueError as exc:
                if isinstance(exc, FaultSpecError):
                    raise
                raise FaultSpecError(f"fault {part!r}: {value!r} is not a number") from exc
        return faults


def expand_quirks(names: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    """Quirk names and brand presets, expanded to quirk names; unknown names raise FaultSpecError."""
    out: set[str] = set()
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if name in BRANDS:
            out |= BRANDS[name]
        elif name in QUIRKS:
            out.add(name)
        else:
            raise FaultSpecError(f"unknown quirk {name!r}; known: {sorted(QUIRKS)} or brands {sorted(BRANDS)}")
    return frozenset(out)


__all__ = ["BRANDS", "QUIRKS", "FaultSpecError", "Faults", "expand_quirks"]
