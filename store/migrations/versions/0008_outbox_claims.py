"""outbox: who claimed a row in ``sending``, when, and until when the claim holds; milestones: the due
date staff were alerted of

A claim used to push ``next_attempt_at`` 15 minutes ahead and nothing else, so a row a killed process had
claimed waited out those 15 minutes, and nobody could tell why it was ``sending``. Now the claimer
(host, pid, run), the claim's moment and a short lease, renewed while the claimer works, are kept.

A milestone overdue before the service first evaluated it (or imported overdue) was never alerted to
staff; ``alerted_due_at`` tells the rules which ones staff have not heard of.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(120), nullable=True))
        batch.add_column(sa.Column("claimed_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("lease_until", UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("milestones") as batch:
        batch.add_column(sa.Column("alerted_due_at", UTCDateTime(timezone=True), nullable=True))
    # the overdue days' milestones are then told apart from the index alone
    op.drop_index("ix_milestones_open_due", table_name="milestones")
    op.create_index("ix_milestones_open_due", "milestones", ["done_at", "due_at", "project_id", "kind", "alerted_due_at"])


def downgrade() -> None:
    op.drop_index("ix_milestones_open_due", table_name="milestones")
    op.create_index("ix_milestones_open_due", "milestones", ["done_at", "due_at", "project_id", "kind"])
    with op.batch_alter_table("milestones") as batch:
        batch.drop_column("alerted_due_at")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("claimed_at")
        batch.drop_column("claimed_by")
