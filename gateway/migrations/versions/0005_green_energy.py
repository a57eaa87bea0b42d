"""a finished session's green energy

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("transactions", table_kwargs=KEEP) as batch:
        batch.add_column(sa.Column("green_energy_wh", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("transactions", table_kwargs=KEEP) as batch:
        batch.drop_column("green_energy_wh")
