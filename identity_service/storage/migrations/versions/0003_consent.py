"""Consent: cameo policies, blocks, grants, relationships, revocation feed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_policies",
        sa.Column("owner_id", sa.String(64), primary_key=True),
        sa.Column("audience", sa.String(16), nullable=False),
        sa.Column("refused_categories", sa.String(256), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("public_figure", sa.Boolean(), nullable=False),
        sa.Column("update_us", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "consent_blocks",
        sa.Column("owner_id", sa.String(64), primary_key=True),
        sa.Column("blocked_id", sa.String(64), primary_key=True),
    )
    op.create_table(
        "consent_grants",
        sa.Column("grant_id", sa.String(32), primary_key=True),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("grantee_id", sa.String(64), nullable=True),
        sa.Column("audience", sa.String(16), nullable=True),
        sa.Column("start_us", sa.BigInteger(), nullable=False),
        sa.Column("end_us", sa.BigInteger(), nullable=True),
        sa.Column("create_us", sa.BigInteger(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("revoke_us", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_consent_grants_owner", "consent_grants", ["owner_id", "grant_id"])
    op.create_index("ix_consent_grants_grantee", "consent_grants", ["owner_id", "grantee_id"])
    op.create_table(
        "relationships",
        sa.Column("from_id", sa.String(64), primary_key=True),
        sa.Column("to_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_relationships_to", "relationships", ["to_id", "from_id"])
    op.create_table(
        "consent_revocations",
        sa.Column("cursor", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("grant_name", sa.String(160), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("revoke_us", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    for table in ("consent_revocations", "relationships", "consent_grants", "consent_blocks", "consent_policies"):
        op.drop_table(table)
