"""The scheduler's world in SQL: sites, each charger's electrical spec, each session's mode and target

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from gateway.db import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("cooperative_id", sa.String(64)),
        sa.Column("grid_limit_a", sa.Float, nullable=False),
        sa.Column("base_load_a", sa.Float, nullable=False, server_default="0"),
        sa.Column("voltage_v", sa.Float, nullable=False, server_default="230"),
    )
    with op.batch_alter_table("chargers") as batch:
        batch.add_column(sa.Column("phases", sa.Integer, nullable=False, server_default="3"))
        batch.add_column(sa.Column("min_current_a", sa.Float, nullable=False, server_default="6"))
        batch.add_column(sa.Column("max_current_a", sa.Float, nullable=False, server_default="16"))
        batch.add_column(sa.Column("phase_switching", sa.Boolean, nullable=False, server_default=sa.false()))
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("mode", sa.String(16), nullable=False, server_default="green"))
        batch.add_column(sa.Column("priority", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("target_wh", sa.Float))
        batch.add_column(sa.Column("departure_ts", UtcDateTime()))


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        for name in ("departure_ts", "target_wh", "priority", "mode"):
            batch.drop_column(name)
    with op.batch_alter_table("chargers") as batch:
        for name in ("phase_switching", "max_current_a", "min_current_a", "phases"):
            batch.drop_column(name)
    op.drop_table("sites")
