"""Alembic environment: runs migrations on the connection handed in by gateway.storage."""

from __future__ import annotations

from alembic import context

from gateway.db import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through gateway.storage.migrate
    raise RuntimeError("run migrations through gateway.storage.migrate()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
