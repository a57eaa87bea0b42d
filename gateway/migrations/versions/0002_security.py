"""charger security profiles and password hashes; id tag type; charger events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from gateway.db import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chargers") as batch:
        batch.add_column(sa.Column("security_profile", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("password_hash", sa.String(200)))
    with op.batch_alter_table("id_tags") as batch:
        batch.add_column(sa.Column("type", sa.String(32)))
    op.create_table(
        "charger_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("charge_point_id", sa.String(64), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    op.create_index("ix_charger_events_cp", "charger_events", ["charge_point_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_charger_events_cp", "charger_events")
    op.drop_table("charger_events")
    with op.batch_alter_table("id_tags") as batch:
        batch.drop_column("type")
    with op.batch_alter_table("chargers") as batch:
        batch.drop_column("password_hash")
        batch.drop_column("security_profile")
