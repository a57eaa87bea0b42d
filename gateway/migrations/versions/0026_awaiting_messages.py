"""Awaiting messages: since when a 2.0.1 station has said a transaction ended with its messages still queued
(GetTransactionStatus, E14), kept with the transaction so a restart or another instance knows it

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from gateway.db import UtcDateTime

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("awaiting_messages_since", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("awaiting_messages_since")
