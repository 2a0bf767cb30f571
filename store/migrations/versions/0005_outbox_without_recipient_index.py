"""outbox: no index on the recipient

Every outbox row paid for an index on ``identity_id`` that no query reads: claims walk
``ix_outbox_state_next``, de-duplication is the unique key, and the staff's views of the queue scan by
state and check each row's recipient. Only deleting an identity would use it (its messages cascade), and
identities are never deleted. Queuing the busiest reminder tick (5,000 rows) spent ~10 % of its time on it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_outbox_identity_id", table_name="outbox")


def downgrade() -> None:
    op.create_index("ix_outbox_identity_id", "outbox", ["identity_id"])
