"""Charging accounts owning id tags, each session's account, tariffs, each session's energy per slot

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from gateway.db import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("kind", sa.String(16), nullable=False, server_default="member"),
        sa.Column("cooperative_id", sa.String(64)),
        sa.Column("member_id", sa.String(64)),
    )
    op.create_table(
        "tariffs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("cooperative_id", sa.String(64)),
        sa.Column("site_id", sa.String(64)),
        sa.Column("audience", sa.String(16), nullable=False, server_default="all"),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("body", sa.JSON, nullable=False),
    )
    op.create_table(
        "session_energy_slots",
        sa.Column("transaction_id", sa.Integer, sa.ForeignKey("transactions.id", ondelete="CASCADE"),
                  primary_key=True),  # fmt: skip
        sa.Column("slot", UtcDateTime(), primary_key=True),
        sa.Column("wh", sa.Float, nullable=False),
        sa.Column("green_wh", sa.Float, nullable=False),
    )
    with op.batch_alter_table("id_tags") as batch:
        batch.add_column(sa.Column("account_id", sa.String(64)))
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("account_id", sa.String(64)))
        batch.add_column(sa.Column("tariff_id", sa.String(36)))


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("tariff_id")
        batch.drop_column("account_id")
    with op.batch_alter_table("id_tags") as batch:
        batch.drop_column("account_id")
    op.drop_table("session_energy_slots")
    op.drop_table("tariffs")
    op.drop_table("accounts")
