"""Redacted audit events keep nothing but their place in the tree: action and outcome are blanked
too, so that `audit verify` can demand a blank payload of every redacted row (a redacted row
with any payload was rewritten) instead of trusting the `redacted` column.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE audit_events SET action = '', outcome = 'redacted' WHERE redacted")


def downgrade() -> None:
    # What was blanked is gone; the rows stay redacted and blank.
    pass
