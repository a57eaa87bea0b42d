"""Charge detail records: one per finished session, immutable; corrections as credit CDRs

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from gateway.db import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cdrs",
        sa.Column("id", sa.String(39), primary_key=True),
        sa.Column("transaction_id", sa.Integer, sa.ForeignKey("transactions.id"), nullable=False),
        sa.Column("account_id", sa.String(64)),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("end_ts", UtcDateTime(), nullable=False),
        sa.Column("credit", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("credit_reference_id", sa.String(39)),
        sa.Column("superseded", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("cost", sa.JSON, nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
    )
    op.create_index("ix_cdrs_account_end", "cdrs", ["account_id", "end_ts"])
    op.create_index("ix_cdrs_transaction", "cdrs", ["transaction_id"])


def downgrade() -> None:
    op.drop_index("ix_cdrs_transaction", "cdrs")
    op.drop_index("ix_cdrs_account_end", "cdrs")
    op.drop_table("cdrs")
