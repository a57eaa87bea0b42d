"""one-minute solar energy per inverter, the baselines of the next deltas, green energy into EVs per park

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "solar_energy_minutes",
        sa.Column("park_id", sa.String(64), primary_key=True),
        sa.Column("inverter_id", sa.String(64), primary_key=True),
        sa.Column("minute", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("wh", sa.Float, nullable=False),
    )
    op.create_table(
        "solar_baselines",
        sa.Column("park_id", sa.String(64), primary_key=True),
        sa.Column("inverter_id", sa.String(64), primary_key=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("energy_wh", sa.Float),
        sa.Column("power_w", sa.Float),
    )
    op.create_table(
        "green_energy_minutes",
        sa.Column("park_id", sa.String(64), primary_key=True),
        sa.Column("minute", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("wh", sa.Float, nullable=False),
        sa.Column("ev_wh", sa.Float, nullable=False),
    )
    op.create_index("ix_green_minutes_minute", "green_energy_minutes", ["minute"])
    op.create_index("ix_solar_minutes_minute", "solar_energy_minutes", ["minute"])


def downgrade() -> None:
    op.drop_index("ix_solar_minutes_minute", "solar_energy_minutes")
    op.drop_index("ix_green_minutes_minute", "green_energy_minutes")
    op.drop_table("green_energy_minutes")
    op.drop_table("solar_baselines")
    op.drop_table("solar_energy_minutes")
