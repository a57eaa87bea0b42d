"""The OpenAPI 3.1 document of the REST API, generated from the pydantic models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway.api_models import (
    ChargePointView,
    ChargerCreate,
    ChargerEventView,
    ChargerUpdate,
    CooperativeReport,
    CooperativeView,
    ErrorBody,
    Health,
    IdTagBody,
    IdTagView,
    ParkEnergy,
    SessionView,
    SolarRejects,
)


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    name: str
    summary: str
    body: type[BaseModel] | None = None
    free_body: bool = False  # any JSON object (an OCPP payload)
    response: type[BaseModel] | None = None
    many: bool = False
    free_response: bool = False
    status: int = 200
    errors: tuple[int, ...] = ()
    query: tuple[tuple[str, str, str], ...] = ()  # (name, type, description)
    tag: str = "chargepoints"
    public: bool = False
    paged: bool = False  # ?limit=&offset=, X-Total-Count and Link headers
    csv: bool = False  # ?format=csv answers text/csv
    extra: dict[str, Any] = field(default_factory=dict)


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


# the period of the energy reports (gateway.http._period)
PERIOD_QUERY = (
    ("from", "date-time", "start (ISO 8601); default: today 00:00 UTC"),
    ("to", "date-time", "end, exclusive; default: now"),
)


OPERATIONS: tuple[Op, ...] = (
    Op(
        "get",
        "/api/chargepoints",
        "chargepoints",
        "Charge points with live state",
        response=ChargePointView,
        many=True,
        paged=True,
        query=(
            ("site", "string", "only this site's charge points"),
            ("status", "string", "only charge points with a connector in this status (e.g. Charging)"),
            ("connected", "boolean", "only connected (true) or disconnected (false) charge points"),
        ),
        errors=(422,),
    ),
    Op(
        "post",
        "/api/chargepoints",
        "chargepoint-create",
        "Register a charge point",
        body=ChargerCreate,
        response=ChargePointView,
        status=201,
        errors=(409, 422),
    ),
    Op(
        "get",
        "/api/chargepoints/{charge_point_id}",
        "chargepoint",
        "One charge point",
        response=ChargePointView,
        errors=(404,),
    ),
    Op(
        "patch",
        "/api/chargepoints/{charge_point_id}",
        "chargepoint-update",
        "Update password, security profile, site or registration",
        body=ChargerUpdate,
        response=ChargePointView,
        errors=(404, 422),
    ),
    Op(
        "get",
        "/api/chargepoints/{charge_point_id}/events",
        "chargepoint-events",
        "Firmware, diagnostics, security and data-transfer events the charger reported",
        response=ChargerEventView,
        many=True,
        paged=True,
        errors=(404, 422),
    ),
    Op(
        "get",
        "/api/chargepoints/{charge_point_id}/variables",
        "chargepoint-variables",
        "An OCPP 2.0.1 charger's stored device model (NotifyReport, GetVariables, SetVariables)",
        free_response=True,
        many=True,
        errors=(404,),
    ),
    Op(
        "post",
        "/api/chargepoints/{charge_point_id}/local-list",
        "local-list",
        "Send the id tag table as the charger's local authorization list",
        free_response=True,
        errors=(404, 409, 502, 504),
    ),
    Op(
        "post",
        "/api/chargepoints/{charge_point_id}/ocpp/{action}",
        "ocpp-action",
        "Send any central-system-initiated OCPP action with its OCPP payload; answers the charger's payload",
        free_body=True,
        free_response=True,
        errors=(404, 409, 422, 502, 504),
    ),
    Op("get", "/api/id-tags", "id-tags", "Id tags", response=IdTagView, many=True, tag="id-tags"),
    Op(
        "put",
        "/api/id-tags/{id_tag}",
        "id-tag-put",
        "Create or replace an id tag",
        body=IdTagBody,
        response=IdTagView,
        errors=(422,),
        tag="id-tags",
        extra={"201": "created"},
    ),
    Op(
        "get",
        "/api/id-tags/{id_tag}",
        "id-tag",
        "One id tag",
        response=IdTagView,
        errors=(404,),
        tag="id-tags",
    ),
    Op(
        "delete",
        "/api/id-tags/{id_tag}",
        "id-tag-delete",
        "Delete an id tag",
        status=204,
        errors=(404,),
        tag="id-tags",
    ),
    Op(
        "get",
        "/api/sessions",
        "sessions",
        "Charging sessions (transactions)",
        response=SessionView,
        many=True,
        paged=True,
        query=(
            ("active", "boolean", "only running (true) or finished (false) sessions"),
            ("chargepoint", "string", "only this charge point's sessions"),
            ("from", "date-time", "only sessions started at or after this time (ISO 8601)"),
            ("to", "date-time", "only sessions started before this time (ISO 8601)"),
        ),
        errors=(422,),
        tag="sessions",
    ),
    Op(
        "get",
        "/api/sessions/{session_id}",
        "session",
        "One session",
        response=SessionView,
        errors=(404, 409),
        query=(("chargepoint", "string", "the charge point, when two reuse a 2.0.1 transaction id"),),
        tag="sessions",
    ),
    Op(
        "put",
        "/api/sessions/{session_id}/mode",
        "session-mode",
        "How the scheduler charges a running session: green, green_min, fast, or departure (energy by a time)",
        free_body=True,
        free_response=True,
        errors=(404, 409, 422),
        tag="sessions",
    ),
    Op(
        "get",
        "/api/parks",
        "parks",
        "Solar parks with live power",
        free_response=True,
        many=True,
        tag="solar",
    ),
    Op(
        "get",
        "/api/parks/{park_id}",
        "park",
        "One solar park",
        free_response=True,
        errors=(404,),
        tag="solar",
    ),
    Op(
        "get",
        "/api/parks/{park_id}/energy",
        "park-energy",
        "A park's generation and green energy into EVs, from the SQL intervals",
        response=ParkEnergy,
        query=(
            *PERIOD_QUERY,
            ("bucket", "bucket", "minute, 15min, hour (default), day or month"),
        ),
        errors=(404, 422),
        tag="solar",
    ),
    Op(
        "get",
        "/api/cooperatives",
        "cooperatives",
        "Cooperatives with their members and parks",
        response=CooperativeView,
        many=True,
        tag="solar",
    ),
    Op(
        "get",
        "/api/cooperatives/{cooperative_id}/report",
        "cooperative-report",
        "Per member and park: generated, routed into EVs, exported (JSON or CSV)",
        response=CooperativeReport,
        csv=True,
        query=(
            *PERIOD_QUERY,
            ("format", "format", "json (default) or csv"),
        ),
        errors=(404, 422),
        tag="solar",
    ),
    Op(
        "get",
        "/api/solar/rejects",
        "solar-rejects",
        "Refused telemetry: counts per reason and the latest payloads as received",
        response=SolarRejects,
        tag="solar",
    ),
    Op(
        "get",
        "/api/sites/{site_id}/allocation",
        "allocation",
        "The scheduler's current setpoints for a site",
        free_response=True,
        errors=(404,),
        tag="smartgrid",
    ),
    Op(
        "get",
        "/api/live",
        "live",
        "Live overview: solar, EVs, green share, chargers, parks, allocations",
        free_response=True,
        tag="dashboard",
    ),
    Op(
        "get",
        "/api/history",
        "history",
        "Solar and EV power over the last day (10 s samples)",
        free_response=True,
        many=True,
        tag="dashboard",
    ),
    Op(
        "post",
        "/api/chargepoints/{charge_point_id}/limit",
        "limit",
        "Cap a connector (1.6) or EVSE (2.0.1) in amperes: a TxProfile on its running transaction, else TxDefault",
        free_body=True,
        free_response=True,
        errors=(404, 409, 422, 502, 504),
    ),
    Op(
        "get",
        "/api/live",
        "live",
        "Live overview: solar, EVs, green share, chargers, parks, allocations",
        free_response=True,
        tag="dashboard",
    ),
    Op(
        "get",
        "/api/history",
        "history",
        "Solar and EV power over the last day (10 s samples)",
        free_response=True,
        many=True,
        tag="dashboard",
    ),
    Op("get", "/healthz", "healthz", "Liveness", response=Health, tag="operations", public=True),
)

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


def build_openapi(version: str) -> dict[str, Any]:
    models: list[type[BaseModel]] = [ErrorBody]
    for op in OPERATIONS:
        models += [m for m in (op.body, op.response) if m is not None]
    unique = list(dict.fromkeys(models))
    _, defs = models_json_schema(
        [(m, "validation" if m in {o.body for o in OPERATIONS} else "serialization") for m in unique],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
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
