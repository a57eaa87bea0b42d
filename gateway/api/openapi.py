"""The OpenAPI 3.1 document, generated from the route table and the pydantic models."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway.api.table import Route
from gateway.api_models import ErrorBody

PAGE_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 10_000, "default": 1000},
        "description": "items per page",
    },
    {
        "name": "offset",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": 0},
        "description": "items to skip",
    },
]


PAGE_HEADERS: dict[str, Any] = {
    "X-Total-Count": {"description": "items matching the filters, all pages", "schema": {"type": "integer"}},
    "Link": {"description": 'the next page, as <url>; rel="next", when there is one', "schema": {"type": "string"}},
}


def _query_schema(kind: str) -> dict[str, Any]:
    if kind == "date-time":
        return {"type": "string", "format": "date-time"}
    if kind == "bucket":
        return {"type": "string", "enum": ["minute", "15min", "hour", "day", "month"]}
    if kind == "format":
        return {"type": "string", "enum": ["json", "csv"]}
    return {"type": kind}


_ERRORS = {
    401: "no valid bearer token",
    403: "the token's role may not use this route",
    404: "not found",
    409: "conflict (already exists, or the charger is not connected)",
    422: "invalid body, payload or query",
    502: "the charger answered with an OCPP CallError (its code is the error code)",
    504: "the charger did not answer in time",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build_openapi(routes: Iterable[Route], version: str) -> dict[str, Any]:
    operations = [r for r in routes if r.documented]
    models: list[type[BaseModel]] = [ErrorBody]
    for op in operations:
        models += [m for m in (op.body, op.response) if m is not None]
    unique = list(dict.fromkeys(models))
    _, defs = models_json_schema(
        [(m, "validation" if m in {o.body for o in operations} else "serialization") for m in unique],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        parameters: list[dict[str, Any]] = [
            {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for part in op.path.split("/")
            if part.startswith("{")
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": _query_schema(kind), "description": text}
            for name, kind, text in op.query
        ]
        if op.paged:
            parameters += PAGE_PARAMETERS
        if op.response is not None:
            schema: dict[str, Any] = _ref(op.response)
        else:
            schema = {"type": "object"}
        if op.many:
            schema = {"type": "array", "items": schema}
        responses: dict[str, Any] = {}
        if op.status == 204:
            responses["204"] = {"description": "done"}
        else:
            responses[str(op.status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": schema}},
            }
            if op.paged:
                responses[str(op.status)]["headers"] = PAGE_HEADERS
            if op.csv:
                responses[str(op.status)]["content"]["text/csv"] = {"schema": {"type": "string"}}
            if op.stream:  # server-sent events, each `data:` a JSON document
                responses[str(op.status)]["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
        for status, text in op.extra.items():
            responses[status] = {"description": text, "content": {"application/json": {"schema": schema}}}
        codes = op.errors if op.public else (401, 403, *op.errors)
        for code in codes:
            responses[str(code)] = {
                "description": _ERRORS[code],
                "content": {"application/json": {"schema": _ref(ErrorBody)}},
            }
        operation: dict[str, Any] = {
            "operationId": op.name,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": parameters,
            "responses": responses,
        }
        if op.public:
            operation["security"] = []
        if op.body is not None or op.free_body:
            body_schema = _ref(op.body) if op.body is not None else {"type": "object"}
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body_schema}},
            }
        if not op.public:
            operation["x-coopgrid-roles"] = sorted(op.roles)
            operation["x-coopgrid-scope"] = op.scope.value
        if op.method in paths.get(op.path, {}):
            raise ValueError(f"{op.method.upper()} {op.path} is declared twice in the route table")
        paths.setdefault(op.path, {})[op.method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CoopGrid API",
            "version": version,
            "description": "Charge points, sessions, solar parks and the smart-grid scheduler of a CoopGrid "
            "installation. Bearer tokens carry a role: operator (everything), cooperative (its own parks, "
            "reports and sessions' green share), viewer (charger status).",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": defs.get("$defs", {}),
        },
        "paths": paths,
    }
