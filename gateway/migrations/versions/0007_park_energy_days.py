"""a park's energy per UTC day (generated, into EVs), kept with the minutes: reports over months read days

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    days = op.create_table(
        "park_energy_days",
        sa.Column("park_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("generated_wh", sa.Float, nullable=False),
        sa.Column("to_evs_wh", sa.Float, nullable=False),
    )
    # the minutes stored so far, summed per park and day
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        day = "to_char(minute AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    else:
        day = "substr(minute, 1, 10)"  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for column, table in ((0, "solar_energy_minutes"), (1, "green_energy_minutes")):
        query = f"SELECT park_id, {day} AS day, SUM(wh) FROM {table} GROUP BY park_id, {day}"  # noqa: S608 - constants
        for park_id, on, wh in bind.execute(sa.text(query)):
            sums[(park_id, on)][column] += float(wh or 0.0)
    rows = [
        {
            "park_id": park_id,
            "day": datetime.strptime(on, "%Y-%m-%d").replace(tzinfo=UTC),
            "generated_wh": generated,
            "to_evs_wh": green,
        }
        for (park_id, on), (generated, green) in sums.items()
    ]
    if rows:
        op.bulk_insert(days, rows)


def downgrade() -> None:
    op.drop_table("park_energy_days")
