"""Every MQTT topic CoopGrid builds from outside data, built here.

Charger ids come from the OCPP URL and may hold `+` and `*` (OCPP's
identifierString); site ids come from the configuration or REST. A topic
level may not hold the wildcards `+` and `#`, the separator `/`, or NUL, and
a leading `$` marks broker topics; so each id is escaped into one level here
(percent-encoding, like a URL path segment) and read back with `parse_level`.
Ids made only of letters, digits and `* - _ = | @ .` stand as they are.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

_SAFE = "*-_=|@.~!'()"  # what stands unescaped in a level, besides letters and digits


def level(value: str) -> str:
    """`value` as one topic level: `+`, `#`, `/`, `%`, `$`, NUL, spaces and controls percent-encoded."""
    return quote(value, safe=_SAFE)


def parse_level(text: str) -> str:
    """The id a `level()` stood for."""
    return unquote(text)


def publishable(topic: str) -> bool:
    """A topic a client may publish to (MQTT 3.1.1 section 4.7): no wildcards, no NUL, 1..65535 bytes."""
    return bool(topic) and "+" not in topic and "#" not in topic and "\0" not in topic and len(topic.encode()) <= 65535


class Topics:
    """The platform's own topics under `prefix` (default `coopgrid`)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def charger_status(self, charge_point_id: str) -> str:
        return f"{self.prefix}/chargers/{level(charge_point_id)}/status"

    def charger_meter(self, charge_point_id: str) -> str:
        return f"{self.prefix}/chargers/{level(charge_point_id)}/meter"

    @property
    def charger_status_filter(self) -> str:
        return f"{self.prefix}/chargers/+/status"

    def charger_of(self, topic: str) -> str:
        """The charger id in a `chargers/{id}/...` topic."""
        return parse_level(topic.split("/")[-2])

    def site_allocation(self, site_id: str) -> str:
        return f"{self.prefix}/sites/{level(site_id)}/allocation"

    def site_meter_state(self, site_id: str) -> str:
        return f"{self.prefix}/sites/{level(site_id)}/meter/state"

    def instance_rpc(self, instance_id: str) -> str:
        return f"{self.prefix}/instances/{level(instance_id)}/rpc"

    def instance_reply(self, instance_id: str) -> str:
        return f"{self.prefix}/instances/{level(instance_id)}/reply"


__all__ = ["Topics", "level", "parse_level", "publishable"]
