"""A finished session's green energy by the park it came from (the green accounting's attribution)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_park_green",
        sa.Column("transaction_id", sa.Integer, sa.ForeignKey("transactions.id", ondelete="CASCADE"),
                  primary_key=True),  # fmt: skip
        sa.Column("park_id", sa.String(64), primary_key=True),
        sa.Column("green_wh", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("session_park_green")
