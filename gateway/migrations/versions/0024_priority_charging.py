"""Priority charging: an OCPP 2.1 session charged in the scheduler's mode priority while it is on

Revision ID: 0024
Revises: 0026
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0026"  # merged after 0025 and 0026: the chain is 0023 -> 0025 -> 0026 -> 0024
branch_labels = None
depends_on = None

KEEP = {"sqlite_autoincrement": True}  # should SQLite's batch mode copy the table: ids still never repeat


def upgrade() -> None:
    # a constant default: SQLite adds the column in place (an expression such as sa.false() makes batch mode
    # copy the table)
    with op.batch_alter_table("transactions", table_kwargs=KEEP) as batch:
        batch.add_column(sa.Column("priority_charging", sa.Boolean, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("transactions", table_kwargs=KEEP) as batch:
        batch.drop_column("priority_charging")
