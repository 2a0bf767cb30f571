"""expert review: committees, their draws, members, exclusions, score sheets; public notices; objections

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import store.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = store.types.UTCDateTime(timezone=True)
OLD_KINDS = "kind IN ('not_delivered', 'quality', 'conduct', 'funds', 'other')"
NEW_KINDS = "kind IN ('not_delivered', 'quality', 'conduct', 'funds', 'other', 'objection')"


def upgrade() -> None:
    op.create_table(
        "expert_conflicts",
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["expert_id"], ["experts.id"], name=op.f("fk_expert_conflicts_expert_id_experts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_expert_conflicts_organization_id_organizations"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("expert_id", "organization_id", name=op.f("pk_expert_conflicts")),
    )
    op.create_table(
        "expert_unavailability",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_expert_unavailability_period")),
        sa.ForeignKeyConstraint(["expert_id"], ["experts.id"], name=op.f("fk_expert_unavailability_expert_id_experts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expert_unavailability")),
    )
    op.create_index(op.f("ix_expert_unavailability_expert_id"), "expert_unavailability", ["expert_id"])
    op.create_table(
        "review_committees",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("commitment", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("pool", JSON, nullable=False),
        sa.Column("counts", JSON, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("drawn_at", UTC, nullable=True),
        sa.Column("published_at", UTC, nullable=True),
        sa.CheckConstraint("stage IN ('approval', 'acceptance')", name=op.f("ck_review_committees_stage")),
        sa.CheckConstraint("state IN ('committed', 'active', 'redrawn', 'published')",
                           name=op.f("ck_review_committees_state")),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_review_committees_call_id_calls")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_committees")),
        sa.UniqueConstraint("code", name=op.f("uq_review_committees_code")),
    )
    op.create_index("ix_review_committees_call_stage", "review_committees", ["call_id", "stage", "state"])
    op.create_table(
        "review_subjects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("committee_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("(application_id IS NULL) <> (project_id IS NULL)", name=op.f("ck_review_subjects_one_subject")),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"],
                                name=op.f("fk_review_subjects_application_id_applications")),
        sa.ForeignKeyConstraint(["committee_id"], ["review_committees.id"],
                                name=op.f("fk_review_subjects_committee_id_review_committees"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_review_subjects_project_id_projects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_subjects")),
        sa.UniqueConstraint("committee_id", "application_id", name=op.f("uq_review_subjects_committee_id_application_id")),
        sa.UniqueConstraint("committee_id", "project_id", name=op.f("uq_review_subjects_committee_id_project_id")),
    )
    op.create_table(
        "review_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("committee_id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("reserve", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("invited_at", UTC, nullable=True),
        sa.Column("answered_at", UTC, nullable=True),
        sa.Column("submitted_at", UTC, nullable=True),
        sa.CheckConstraint("field IN ('business', 'finance', 'management', 'law')", name=op.f("ck_review_members_field")),
        sa.CheckConstraint("state IN ('reserve', 'invited', 'accepted', 'declined', 'timeout', 'submitted')",
                           name=op.f("ck_review_members_state")),
        sa.ForeignKeyConstraint(["committee_id"], ["review_committees.id"],
                                name=op.f("fk_review_members_committee_id_review_committees"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["expert_id"], ["experts.id"], name=op.f("fk_review_members_expert_id_experts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_members")),
        sa.UniqueConstraint("committee_id", "expert_id", name=op.f("uq_review_members_committee_id_expert_id")),
    )
    op.create_index(op.f("ix_review_members_expert_id"), "review_members", ["expert_id"])
    op.create_table(
        "review_exclusions",
        sa.Column("committee_id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.CheckConstraint("reason IN ('affiliated', 'conflict', 'unavailable', 'unreachable')",
                           name=op.f("ck_review_exclusions_reason")),
        sa.ForeignKeyConstraint(["committee_id"], ["review_committees.id"],
                                name=op.f("fk_review_exclusions_committee_id_review_committees"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["expert_id"], ["experts.id"], name=op.f("fk_review_exclusions_expert_id_experts")),
        sa.PrimaryKeyConstraint("committee_id", "expert_id", name=op.f("pk_review_exclusions")),
    )
    op.create_table(
        "review_sheets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("conflict", sa.Boolean(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["review_members.id"],
                                name=op.f("fk_review_sheets_member_id_review_members"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subject_id"], ["review_subjects.id"],
                                name=op.f("fk_review_sheets_subject_id_review_subjects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_sheets")),
        sa.UniqueConstraint("member_id", "subject_id", name=op.f("uq_review_sheets_member_id_subject_id")),
    )
    op.create_index("ix_review_sheets_member_cover", "review_sheets", ["member_id", "conflict", "total", "subject_id"])
    op.create_table(
        "review_scores",
        sa.Column("sheet_id", sa.Integer(), nullable=False),
        sa.Column("criterion", sa.String(length=32), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.CheckConstraint("points >= 0", name=op.f("ck_review_scores_points_nonnegative")),
        sa.ForeignKeyConstraint(["sheet_id"], ["review_sheets.id"],
                                name=op.f("fk_review_scores_sheet_id_review_sheets"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("sheet_id", "criterion", name=op.f("pk_review_scores")),
    )
    op.create_index("ix_review_scores_cover", "review_scores", ["sheet_id", "criterion", "points"])
    op.create_table(
        "public_notices",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("contract_reminded_at", UTC, nullable=True),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_public_notices_period")),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_public_notices_project_id_projects"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_public_notices")),
    )
    op.create_index(op.f("ix_public_notices_ends_on"), "public_notices", ["ends_on"])
    # an objection to a project under public notice is a ticket of its own kind
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_constraint(op.f("ck_tickets_kind"), type_="check")
        batch_op.create_check_constraint("kind", NEW_KINDS)


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_constraint(op.f("ck_tickets_kind"), type_="check")
        batch_op.create_check_constraint("kind", OLD_KINDS)
    for table in ("public_notices", "review_scores", "review_sheets", "review_exclusions", "review_members",
                  "review_subjects", "review_committees", "expert_unavailability", "expert_conflicts"):
        op.drop_table(table)
