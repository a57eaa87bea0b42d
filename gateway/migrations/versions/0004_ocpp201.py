"""OCPP 2.0.1: the charger's transaction ids and a stored device model

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


# SQLite rebuilds the table in batch mode: keep AUTOINCREMENT, so that
# transaction ids are never handed out twice, even after deletions.
KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("transactions", table_kwargs=KEEP) as batch:
        batch.add_column(sa.Column("ocpp_transaction_id", sa.String(36)))
        batch.add_column(sa.Column("last_seq_no", sa.Integer))
        batch.create_unique_constraint("uq_tx_ocpp_id", ["charge_point_id", "ocpp_transaction_id"])
    op.create_table(
        "device_variables",
        sa.Column("charge_point_id", sa.String(64), primary_key=True),
        sa.Column("component", sa.String(128), primary_key=True),
        sa.Column("variable", sa.String(128), primary_key=True),
        sa.Column("attribute", sa.String(16), primary_key=True),
        sa.Column("value", sa.String(2500)),
        sa.Column("mutability", sa.String(16)),
    )


def downgrade() -> None:
    op.drop_table("device_variables")
    with op.batch_alter_table("transactions", table_kwargs=KEEP) as batch:
        batch.drop_constraint("uq_tx_ocpp_id", type_="unique")
        batch.drop_column("last_seq_no")
        batch.drop_column("ocpp_transaction_id")
