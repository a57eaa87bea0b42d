"""Id tag changes, numbered: the local authorization list's versions (SendLocalList Differential)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "id_tag_changes",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id_tag", sa.String(64), nullable=False),
    )
    op.create_index("ix_id_tag_changes_id_tag", "id_tag_changes", ["id_tag"])


def downgrade() -> None:
    op.drop_index("ix_id_tag_changes_id_tag", "id_tag_changes")
    op.drop_table("id_tag_changes")
