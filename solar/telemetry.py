"""The native CoopGrid telemetry payload (pydantic at the boundary) and the normalised sample."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _to_utc(value: object) -> object:
    """ISO-8601 text or epoch seconds; naive times are UTC."""
    if isinstance(value, bool):
        raise ValueError("a timestamp is ISO-8601 text or epoch seconds")
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(float(value), tz=UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"not a usable timestamp: {value!r}") from exc
    return value


UtcTimestamp = Annotated[datetime, BeforeValidator(_to_utc)]


class NativeTelemetry(BaseModel):
    """`coopgrid/solar/{park}/{inverter}/telemetry` as DESIGN.md defines it."""

    model_config = ConfigDict(extra="ignore", strict=False)

    ts: UtcTimestamp
    ac_power_w: float = Field(ge=0, allow_inf_nan=False)
    energy_wh: float = Field(ge=0, allow_inf_nan=False)
    dc_power_w: float | None = Field(None, allow_inf_nan=False)
    ac_voltage_v: float | None = Field(None, allow_inf_nan=False)
    frequency_hz: float | None = Field(None, allow_inf_nan=False)
    temperature_c: float | None = Field(None, allow_inf_nan=False)
    status: str | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """One normalised reading of one inverter."""

    park_id: str
    inverter_id: str
    ts: datetime
    power_w: float
    energy_wh: float | None = None
    status: str | None = None
