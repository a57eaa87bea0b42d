"""Reservations: sent with ReserveNow, expiring, cancelled from REST, used by a transaction

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from gateway.db import UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reservations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("charge_point_id", sa.String(64), nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("id_tag", sa.String(64), nullable=False),
        sa.Column("parent_id_tag", sa.String(64)),
        sa.Column("id_token_type", sa.String(32), nullable=False, server_default="Central"),
        sa.Column("expiry_ts", UtcDateTime(), nullable=False),
        sa.Column("created_ts", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("charger_status", sa.String(32)),
        sa.Column("transaction_id", sa.Integer),
    )
    op.create_index("ix_reservations_charge_point_id", "reservations", ["charge_point_id"])


def downgrade() -> None:
    op.drop_index("ix_reservations_charge_point_id", "reservations")
    op.drop_table("reservations")
