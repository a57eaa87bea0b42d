"""Security-profile upgrades: the higher profile a charger was told to use, until it connects with it

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chargers") as batch:
        batch.add_column(sa.Column("next_security_profile", sa.Integer()))


def downgrade() -> None:
    with op.batch_alter_table("chargers") as batch:
        batch.drop_column("next_security_profile")
