"""initial schema: chargers, transactions, unmatched stops, id tags

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from gateway.db import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chargers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("registration", sa.String(16), nullable=False),
        sa.Column("ocpp_version", sa.String(8)),
        sa.Column("vendor", sa.String(64)),
        sa.Column("model", sa.String(64)),
        sa.Column("serial_number", sa.String(64)),
        sa.Column("firmware_version", sa.String(64)),
        sa.Column("site_id", sa.String(64)),
        sa.Column("last_seen", UtcDateTime()),
    )
    op.create_table(
        "transactions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("charge_point_id", sa.String(64), sa.ForeignKey("chargers.id"), nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("id_tag", sa.String(64), nullable=False),
        sa.Column("meter_start_wh", sa.Float, nullable=False),
        sa.Column("start_ts", UtcDateTime(), nullable=False),
        sa.Column("meter_last_wh", sa.Float),
        sa.Column("meter_stop_wh", sa.Float),
        sa.Column("stop_ts", UtcDateTime()),
        sa.Column("stop_reason", sa.String(32)),
        sa.UniqueConstraint("charge_point_id", "connector_id", "start_ts", "meter_start_wh", name="uq_tx_start"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_tx_active", "transactions", ["charge_point_id", "stop_ts"])
    op.create_table(
        "unmatched_stops",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("charge_point_id", sa.String(64), nullable=False),
        sa.Column("transaction_id", sa.Integer, nullable=False),
        sa.Column("meter_stop_wh", sa.Float, nullable=False),
        sa.Column("stop_ts", UtcDateTime(), nullable=False),
        sa.Column("reason", sa.String(32)),
    )
    op.create_table(
        "id_tags",
        sa.Column("id_tag", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("expiry_date", UtcDateTime()),
        sa.Column("parent_id_tag", sa.String(64)),
    )


def downgrade() -> None:
    op.drop_table("id_tags")
    op.drop_table("unmatched_stops")
    op.drop_index("ix_tx_active", "transactions")
    op.drop_table("transactions")
    op.drop_table("chargers")
