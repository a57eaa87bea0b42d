"""Operations: health, Prometheus metrics, the OpenAPI document and its page."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.api.access import ROUTES_BY_NAME
from gateway.api.context import api
from gateway.api.openapi import build_openapi
from gateway.api.table import ALL_ROLES, Route
from gateway.api_models import Health


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(build_openapi(request.app[ROUTES_BY_NAME].values(), api(request).version))


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CoopGrid API</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:70em}code{background:#eef;padding:0 .2em}
.op{border-top:1px solid #ccc;padding:.5em 0}.m{display:inline-block;width:4.5em;font-weight:bold}
pre{background:#f6f6f6;padding:.5em;overflow:auto}</style></head>
<body><h1>CoopGrid API</h1><p>The machine-readable document: <a href="/api/openapi.json">/api/openapi.json</a>.
Send <code>Authorization: Bearer TOKEN</code> (create one with <code>coopgrid token create --role operator</code>).</p>
<div id="ops"></div><script>
fetch('/api/openapi.json').then(r => r.json()).then(doc => {
  const root = document.getElementById('ops');
  for (const [path, methods] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(methods)) {
    const div = document.createElement('div'); div.className = 'op';
    const codes = Object.keys(op.responses).join(', ');
    div.innerHTML = `<span class="m">${method.toUpperCase()}</span><code>${path}</code> ${op.summary}
      <br><small>responses: ${codes}</small>`;
    if (op.requestBody) { const pre = document.createElement('pre');
      pre.textContent = JSON.stringify(op.requestBody.content['application/json'].schema); div.appendChild(pre); }
    root.appendChild(div);
  }
});
</script></body></html>
"""


async def api_docs(request: web.Request) -> web.Response:
    return web.Response(text=DOCS_PAGE, content_type="text/html")


async def healthz(request: web.Request) -> web.Response:
    context = api(request)
    return web.json_response(
        {
            "status": "ok",
            "bus_connected": context.bus.connected.is_set(),
            "version": context.version,
            "instance": context.settings.instance_id,
            "scheduler_leader": context.is_leader(),
        }
    )


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(api(request).metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


ROUTES: tuple[Route, ...] = (
    Route(
        "get",
        "/healthz",
        "healthz",
        healthz,
        "Liveness",
        roles=ALL_ROLES,
        response=Health,
        tag="operations",
        public=True,
    ),
    Route(
        "get",
        "/metrics",
        "metrics",
        metrics,
        "Prometheus metrics (text exposition format)",
        tag="operations",
        public=True,
        media_type=CONTENT_TYPE_LATEST,
    ),
    Route(
        "get",
        "/api/openapi.json",
        "openapi",
        openapi_json,
        "This document",
        tag="operations",
        public=True,
        free_response=True,
    ),  # fmt: skip
    Route(
        "get", "/api/docs", "docs", api_docs, "The API's page", tag="operations", public=True, media_type="text/html"
    ),
)
