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
    if kind == "statement-format":
        return {"type": "string", "enum": ["json", "csv", "html", "pdf"]}
    return {"type": kind}


_ERRORS = {
    401: "no valid bearer token",
    403: "the token's role may not use this route",
    404: "not found",
    409: "conflict (already exists, or the charger is not connected)",
    413: "the file is larger than files.max_upload_bytes",
    422: "invalid body, payload or query",
    502: "the charger answered with an OCPP CallError (its code is the error code)",
    504: "the charger did not answer in time",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _parameters(op: Route) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for part in op.path.split("/")
        if part.startswith("{")
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": _query_schema(kind), "description": text}
        for name, kind, text in op.query
    ]
    return parameters + (PAGE_PARAMETERS if op.paged else [])


def _responses(op: Route) -> dict[str, Any]:
    schema: dict[str, Any] = _ref(op.response) if op.response is not None else {"type": "object"}
    if op.many:
        schema = {"type": "array", "items": schema}
    responses: dict[str, Any] = {}
    if op.status == 204:
        responses["204"] = {"description": "done"}
    else:
        ok: dict[str, Any] = {"description": "OK", "content": {"application/json": {"schema": schema}}}
        if op.paged:
            ok["headers"] = PAGE_HEADERS
        if op.csv:
            ok["content"]["text/csv"] = {"schema": {"type": "string"}}
        for media_type in op.documents:
            binary = not media_type.startswith("text/")
            ok["content"][media_type] = {"schema": {"type": "string", **({"format": "binary"} if binary else {})}}
        if op.stream:  # server-sent events, each `data:` a JSON document
            ok["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
        if op.media_type is not None:
            ok["content"] = {op.media_type: {"schema": {"type": "string"}}}
        responses[str(op.status)] = ok
    for status, text in op.extra.items():
        responses[status] = {"description": text, "content": {"application/json": {"schema": schema}}}
    for code in op.errors if op.public else (401, 403, *op.errors):
        responses[str(code)] = {
            "description": _ERRORS[code],
            "content": {"application/json": {"schema": _ref(ErrorBody)}},
        }
    return responses


def _operation(op: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": _parameters(op),
        "responses": _responses(op),
    }
    if op.public:
        operation["security"] = []
    else:
        operation["x-coopgrid-roles"] = sorted(op.roles)
        operation["x-coopgrid-scope"] = op.scope.value
    if op.body is not None or op.free_body:
        body_schema = _ref(op.body) if op.body is not None else {"type": "object"}
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body_schema}}}
    if op.upload:
        binary = {"type": "string", "format": "binary"}
        form = {"type": "object", "properties": {"file": binary}, "required": ["file"]}
        content: dict[str, Any] = {"multipart/form-data": {"schema": form}}
        if op.method == "put":
            content = {"application/octet-stream": {"schema": binary}}
        operation["requestBody"] = {"required": True, "content": content}
    return operation


def build_openapi(routes: Iterable[Route], version: str) -> dict[str, Any]:
    """The document of every HTTP route of the table (WebSocket upgrades have no place in OpenAPI); a method
    and path declared twice is refused."""
    operations = [r for r in routes if not r.websocket]
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
        if op.method in paths.get(op.path, {}):
            raise ValueError(f"{op.method.upper()} {op.path} is declared twice in the route table")
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CoopGrid API",
            "version": version,
            "description": "Charge points, sessions, solar parks and the smart-grid scheduler of a CoopGrid "
            "installation. Bearer tokens carry a role: operator (everything), cooperative (what its cooperative "
            "owns: parks, sites and their chargers, sessions, reports), viewer (charger status).",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": defs.get("$defs", {}),
        },
        "paths": paths,
    }
