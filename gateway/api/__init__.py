"""The REST API: one module per resource, one route table (`gateway.api.table`)."""
