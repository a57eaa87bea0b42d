"""OCPI 2.2.1 partners, their tokens and the queue of pushes to them

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from gateway.db import UtcDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ocpi_partners",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("token_a_sha256", sa.String(64), unique=True),
        sa.Column("token_c_sha256", sa.String(64), unique=True),
        sa.Column("token_b", sa.String(64)),
        sa.Column("versions_url", sa.String(255)),
        sa.Column("version_url", sa.String(255)),
        sa.Column("endpoints", sa.JSON, nullable=False),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("created", UtcDateTime(), nullable=False),
        sa.Column("updated", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "ocpi_tokens",
        sa.Column("partner_id", sa.String(36), primary_key=True),
        sa.Column("country_code", sa.String(2), primary_key=True),
        sa.Column("party_id", sa.String(3), primary_key=True),
        sa.Column("uid", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(16), primary_key=True),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("last_updated", UtcDateTime(), nullable=False),
        sa.Column("owns_id_tag", sa.Boolean, nullable=False, server_default=sa.true()),
    )
    op.create_index("ix_ocpi_tokens_uid", "ocpi_tokens", ["uid"])
    op.create_table(
        "ocpi_pushes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("partner_id", sa.String(36), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("module", sa.String(32)),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("created", UtcDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_ts", UtcDateTime(), nullable=False),
        sa.Column("last_error", sa.String(200)),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_ocpi_pushes_partner", "ocpi_pushes", ["partner_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_ocpi_pushes_partner", "ocpi_pushes")
    op.drop_table("ocpi_pushes")
    op.drop_index("ix_ocpi_tokens_uid", "ocpi_tokens")
    op.drop_table("ocpi_tokens")
    op.drop_table("ocpi_partners")
