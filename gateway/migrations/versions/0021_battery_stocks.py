"""Battery stocks: each stationary battery's stored energy by origin (green per park, grey), as the green
accounting last closed it, so that the mix survives a restart

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "battery_stocks",
        sa.Column("battery_id", sa.String(64), primary_key=True),
        sa.Column("park_id", sa.String(64), primary_key=True),  # "" for the grey part
        sa.Column("wh", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("battery_stocks")
