"""Hashes of uploaded enrollment recordings, so a re-sent recording is refused.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enrollment_media",
        sa.Column("media_sha256", sa.String(64), primary_key=True),
        sa.Column("create_us", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("enrollment_media")
