"""A session's ISO 15118 charging needs: the EV's range and OCPP 2.1 V2X parameters, as its EV last told them

Revision ID: 0025
Revises: 0023
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("ev_needs", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("ev_needs")
