"""Firmware images served and diagnostics and logs received by CoopGrid, and each charger's status timeline

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from gateway.db import UtcDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "firmware_images",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64)),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("created_ts", UtcDateTime(), nullable=False),
        sa.Column("signing_certificate", sa.String(5500)),
        sa.Column("signature", sa.String(800)),
    )
    op.create_table(
        "file_transfers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("charge_point_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("firmware_id", sa.Integer),
        sa.Column("created_ts", UtcDateTime(), nullable=False),
        sa.Column("expires_ts", UtcDateTime(), nullable=False),
        sa.Column("answer", sa.String(32)),
        sa.Column("filename", sa.String(255)),
        sa.Column("size_bytes", sa.Integer),
        sa.Column("sha256", sa.String(64)),
        sa.Column("received_ts", UtcDateTime()),
        sa.Column("downloads", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_file_transfers_cp", "file_transfers", ["charge_point_id", "id"])
    op.create_table(
        "file_statuses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("charge_point_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("status", sa.String(48), nullable=False),
        sa.Column("request_id", sa.Integer),
        sa.Column("ts", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_file_statuses_cp", "file_statuses", ["charge_point_id", "kind", "id"])


def downgrade() -> None:
    op.drop_index("ix_file_statuses_cp", "file_statuses")
    op.drop_table("file_statuses")
    op.drop_index("ix_file_transfers_cp", "file_transfers")
    op.drop_table("file_transfers")
    op.drop_table("firmware_images")
