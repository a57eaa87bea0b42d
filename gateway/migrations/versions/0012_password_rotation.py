"""Password rotation: the hash of a new password a charger accepted, until it connects with it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chargers") as batch:
        batch.add_column(sa.Column("next_password_hash", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("chargers") as batch:
        batch.drop_column("next_password_hash")
