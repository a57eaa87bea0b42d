"""The base of every settings model: unknown keys refused, and an empty value clears a setting."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, model_validator


def _admits_none(annotation: object) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)


def clear_empty(model: type[BaseModel], data: Any) -> Any:
    """An empty value (`COOPGRID_MQTT__URL=`, `url = ""`) clears a setting: none where the setting may be
    none, its default where it is not text; text settings keep the empty text."""
    if not isinstance(data, dict):
        return data
    cleared = dict(data)
    for name, field in model.model_fields.items():
        if cleared.get(name) != "":
            continue
        if _admits_none(field.annotation):
            cleared[name] = None
        elif field.annotation is not str:
            del cleared[name]
    return cleared


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _empty_clears(cls, data: Any) -> Any:
        return clear_empty(cls, data)
