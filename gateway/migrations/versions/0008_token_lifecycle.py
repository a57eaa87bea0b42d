"""API tokens expire, are revoked and remember when they were last used

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from gateway.db import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = ("expires", "revoked", "last_used")


def upgrade() -> None:
    # tokens created before this revision never expire, are not revoked, and were never seen used
    with op.batch_alter_table("api_tokens") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, UtcDateTime(), nullable=True))


def downgrade() -> None:
    # without these columns a revoked or expiring token would work again, for ever: such tokens go
    op.execute(sa.text("DELETE FROM api_tokens WHERE revoked IS NOT NULL OR expires IS NOT NULL"))
    with op.batch_alter_table("api_tokens") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
