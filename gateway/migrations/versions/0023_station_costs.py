"""Station costs: the cost an OCPP 2.1 station computed itself for a session (TransactionEvent costDetails)

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from gateway.db import UtcDateTime

revision = "0023"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "station_costs",
        sa.Column("transaction_id", sa.Integer, sa.ForeignKey("transactions.id"), primary_key=True),
        sa.Column("reported_at", UtcDateTime(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("incl_tax", sa.Float),
        sa.Column("excl_tax", sa.Float),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("station_costs")
