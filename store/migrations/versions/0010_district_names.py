"""districts: the English name of each district

Districts are written in Chinese on projects, organizations and needs; English screens need a name of
their own for each (loaded from the package's ``districts`` sheet; without one, chat shows the pinyin).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "districts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name_zh", sa.String(length=50), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_districts")),
        sa.UniqueConstraint("name_zh", name=op.f("uq_districts_name_zh")),
    )


def downgrade() -> None:
    op.drop_table("districts")
