"""API bearer tokens with roles

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from gateway.db import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("cooperative_id", sa.String(64)),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
