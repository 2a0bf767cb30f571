"""outbox: the milestone a notice is about, in a column of its own

A reminder used to carry its milestone's id inside the JSON payload, which the rules built per row by
splicing the number between two halves of JSON text. The id now has a column (no foreign key: a removed
milestone makes its notices stale, and the dispatcher cancels them; no index: nothing looks rows up by
it), the payload of the day's reminders is one constant, and the payload format is version 2
(``store.notices``). Rows queued before keep their version-1 payloads, which are still read.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("milestone_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("milestone_id")
