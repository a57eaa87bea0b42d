"""Every HTTP route of the table is in /api/openapi.json, with the content type it really answers."""

from __future__ import annotations

from gateway.api.openapi import build_openapi
from gateway.api.routes import ROUTES


def test_every_http_route_is_in_the_document() -> None:
    paths = build_openapi(ROUTES, "test")["paths"]
    documented = {(method, path) for path, operations in paths.items() for method in operations}
    http_routes = {(route.method, route.path) for route in ROUTES if not route.websocket}
    assert documented == http_routes
    assert {route.path for route in ROUTES if route.websocket} == {"/ocpp/{charge_point_id}"}


def test_the_stream_and_the_metrics_say_what_they_answer() -> None:
    paths = build_openapi(ROUTES, "test")["paths"]
    assert set(paths["/api/stream"]["get"]["responses"]["200"]["content"]) == {"text/event-stream"}
    metrics = paths["/metrics"]["get"]
    assert [media.split(";")[0] for media in metrics["responses"]["200"]["content"]] == ["text/plain"]
    assert metrics["security"] == []  # Prometheus scrapes without a token
    assert set(paths["/api/docs"]["get"]["responses"]["200"]["content"]) == {"text/html"}
    assert set(paths["/api/openapi.json"]["get"]["responses"]["200"]["content"]) == {"application/json"}
