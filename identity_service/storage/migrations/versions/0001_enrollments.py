"""Enrollments and enrollment sessions.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enrollments",
        sa.Column("subject_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("create_us", sa.BigInteger(), nullable=False),
        sa.Column("update_us", sa.BigInteger(), nullable=False),
        sa.Column("template_models", sa.Text(), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=True),
        sa.Column("session_expire_us", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_enrollments_state", "enrollments", ["state"])
    op.create_table(
        "enrollment_sessions",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("digits", sa.String(8), nullable=False),
        sa.Column("head_turns", sa.String(64), nullable=False),
        sa.Column("reenroll", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("create_us", sa.BigInteger(), nullable=False),
        sa.Column("expire_us", sa.BigInteger(), nullable=False),
        sa.Column("used_us", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_enrollment_sessions_subject", "enrollment_sessions", ["subject_id"])


def downgrade() -> None:
    op.drop_table("enrollment_sessions")
    op.drop_table("enrollments")
