"""survey answers: covering index for the results queries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_survey_answers_item_value", table_name="survey_answers")
    op.create_index("ix_survey_answers_item_value", "survey_answers", ["item", "value_int", "response_id"])


def downgrade() -> None:
    op.drop_index("ix_survey_answers_item_value", table_name="survey_answers")
    op.create_index("ix_survey_answers_item_value", "survey_answers", ["item", "value_int"])
