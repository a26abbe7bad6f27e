"""Encrypted templates, wrapped subject data keys, and the template change feed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subject_keys",
        sa.Column("subject_id", sa.String(64), primary_key=True),
        sa.Column("kek_id", sa.String(64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("create_us", sa.BigInteger(), nullable=False),
        sa.Column("rewrap_us", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_subject_keys_kek", "subject_keys", ["kek_id"])
    op.create_table(
        "templates",
        sa.Column("template_id", sa.String(32), primary_key=True),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("modality", sa.String(8), nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(16), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("create_us", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_templates_subject", "templates", ["subject_id", "template_id"])
    op.create_table(
        "template_changes",
        sa.Column("change_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("change_us", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_template_changes_time", "template_changes", ["change_us"])


def downgrade() -> None:
    for table in ("template_changes", "templates", "subject_keys"):
        op.drop_table(table)
