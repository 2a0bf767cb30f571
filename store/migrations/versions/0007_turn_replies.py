"""turn_replies: a turn's replies kept with the turn until the channel has sent them

A process killed between a turn's commit and the sending of its replies lost them: the turn was
recorded as handled, so the re-delivered update was skipped and the person never got an answer (or a
form's next prompt). The replies are now written in the turn's transaction and deleted once sent;
whatever is left is sent when the channel starts. The table holds only the turns in flight, so it has
no index but its key.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "turn_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("incoming_key", sa.String(length=96), nullable=False),
        sa.Column("replies", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                  nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_turn_replies")),
    )


def downgrade() -> None:
    op.drop_table("turn_replies")
