"""The domain model of the purchase-of-services lifecycle as SQLAlchemy 2 typed tables.

Money is integer fen (exact on SQLite too), datetimes are aware UTC, and every rule the data must
obey that a database can check is declared here: unique natural keys, foreign keys, CHECKs.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store.notices import Notice, decode
from store.types import JSONType, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ORG_KINDS = ("social_group", "social_service_org", "foundation", "enterprise", "public_institution", "other")
RATINGS = ("1A", "2A", "3A", "4A", "5A")
APPLICATION_STATUSES = (
    "draft", "submitted", "eligible", "eligibility_failed", "under_review", "approved", "rejected", "withdrawn",
)
PROJECT_STATUSES = ("publicized", "contracted", "in_progress", "midterm_passed", "closing", "closed", "terminated")
GRADES = ("excellent", "good", "pass", "fail")
MILESTONE_KINDS = (
    "contract_signing", "midterm_report", "midterm_inspection", "final_report", "final_acceptance",
    "performance_evaluation",
)
INSPECTION_KINDS = ("midterm", "final", "evaluation")
INSPECTION_RESULTS = ("pass", "rectify", "fail")
EXPERT_FIELDS = ("business", "finance", "management", "law")
ROLES = ("resident", "staff", "org", "expert")
LOCALES = ("zh-Hans", "zh-Hant", "en")  # the languages of the product: the one definition (dialogs.i18n, bot.config)
BUDGET_LINE_KINDS = ("personnel", "activities", "materials", "administration", "other")
OUTBOX_STATES = ("pending", "sending", "sent", "failed", "dead", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))


class District(Base):
    """A district's English name; ``name_zh`` is how projects, organizations and needs name it."""

    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(50), unique=True)
    name_en: Mapped[str | None] = mapped_column(String(100))


class CatalogItem(Base):
    __tablename__ = "catalog_items"
    __table_args__ = (
        UniqueConstraint("year", "code"),
        CheckConstraint("ceiling_fen IS NULL OR ceiling_fen >= 0", name="ceiling_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(32))
    level1_zh: Mapped[str] = mapped_column(String(100))
    level1_en: Mapped[str | None] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(300))
    description_zh: Mapped[str | None] = mapped_column(Text)
    description_en: Mapped[str | None] = mapped_column(Text)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    ceiling_fen: Mapped[int | None] = mapped_column(BigInteger)

    department: Mapped[Department] = relationship(lazy="raise")


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint(_in("kind", ORG_KINDS), name="kind"),
        CheckConstraint(f"rating IS NULL OR {_in('rating', RATINGS)}", name="rating"),
        CheckConstraint("length(uscc) = 18", name="uscc_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(32))
    district: Mapped[str | None] = mapped_column(String(50), index=True)
    rating: Mapped[str | None] = mapped_column(String(2))
    barred_until: Mapped[date | None] = mapped_column(Date)


class Qualification(Base):
    """An organization on the qualified providers list (资质名录) of one year."""

    __tablename__ = "qualifications"

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True)


class Budget(Base):
    __tablename__ = "budgets"
    __table_args__ = (
        UniqueConstraint("year", "department_id"),
        CheckConstraint("amount_fen >= 0", name="amount_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    note_zh: Mapped[str | None] = mapped_column(Text)
    note_en: Mapped[str | None] = mapped_column(Text)


class Call(Base):
    """A call for applications (项目指南) with its window and the catalog items it opens."""

    __tablename__ = "calls"
    __table_args__ = (
        CheckConstraint("closes_at > opens_at", name="window"),
        CheckConstraint("max_months >= 1 AND max_months <= 36", name="max_months"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    title_zh: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str | None] = mapped_column(String(400))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    max_months: Mapped[int] = mapped_column(Integer, default=12)


class CallItem(Base):
    __tablename__ = "call_items"

    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True)
    catalog_item_id: Mapped[int] = mapped_column(ForeignKey("catalog_items.id"), primary_key=True, index=True)


class Application(Base):
    """A project application (申报书); its form answers live in ``content`` until submission."""

    __tablename__ = "applications"
    __table_args__ = (
        CheckConstraint(_in("status", APPLICATION_STATUSES), name="status"),
        CheckConstraint("total_fen IS NULL OR total_fen >= 0", name="total_nonnegative"),
        CheckConstraint("granted_fen IS NULL OR granted_fen >= 0", name="granted_nonnegative"),
        CheckConstraint("end_on IS NULL OR start_on IS NULL OR end_on >= start_on", name="term"),
        Index(
            "uq_applications_one_draft",
            "organization_id",
            "call_id",
            unique=True,
            sqlite_where=text("status = 'draft'"),
            postgresql_where=text("status = 'draft'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    catalog_item_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_items.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    status: Mapped[str] = mapped_column(String(24), default="draft")
    title: Mapped[str | None] = mapped_column(String(200))
    start_on: Mapped[date | None] = mapped_column(Date)
    end_on: Mapped[date | None] = mapped_column(Date)
    total_fen: Mapped[int | None] = mapped_column(BigInteger)
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    granted_fen: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]


class BudgetLine(Base):
    __tablename__ = "budget_lines"
    __table_args__ = (
        UniqueConstraint("application_id", "kind"),
        CheckConstraint(_in("kind", BUDGET_LINE_KINDS), name="kind"),
        CheckConstraint("amount_fen >= 0", name="amount_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    amount_fen: Mapped[int] = mapped_column(BigInteger)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint(_in("status", PROJECT_STATUSES), name="status"),
        CheckConstraint(f"grade IS NULL OR {_in('grade', GRADES)}", name="grade"),
        CheckConstraint("amount_fen >= 0", name="amount_nonnegative"),
        CheckConstraint("end_on >= start_on", name="term"),
        CheckConstraint(
            "evaluation_score IS NULL OR (evaluation_score >= 0 AND evaluation_score <= 100)", name="score"
        ),
        CheckConstraint("recipients IS NULL OR recipients >= 0", name="recipients_nonnegative"),
        Index("ix_projects_year_status", "year", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    title_zh: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str | None] = mapped_column(String(400))
    catalog_item_id: Mapped[int] = mapped_column(ForeignKey("catalog_items.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), unique=True)
    district: Mapped[str | None] = mapped_column(String(50), index=True)
    recipients: Mapped[int | None] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(24))
    start_on: Mapped[date] = mapped_column(Date)
    end_on: Mapped[date] = mapped_column(Date)
    target_group_zh: Mapped[str | None] = mapped_column(Text)
    target_group_en: Mapped[str | None] = mapped_column(Text)
    summary_zh: Mapped[str | None] = mapped_column(Text)
    summary_en: Mapped[str | None] = mapped_column(Text)
    grade: Mapped[str | None] = mapped_column(String(16))
    evaluation_score: Mapped[int | None] = mapped_column(Integer)
    brand: Mapped[bool] = mapped_column(Boolean, default=False)


class Milestone(Base):
    __tablename__ = "milestones"
    __table_args__ = (
        UniqueConstraint("project_id", "kind"),
        CheckConstraint(_in("kind", MILESTONE_KINDS), name="kind"),
        # covering: the rules and the digest read project and kind (and whether staff were alerted)
        # without touching the rows
        Index("ix_milestones_open_due", "done_at", "due_at", "project_id", "kind", "alerted_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    # the due date its department's staff were alerted of as overdue (None: never); one that is re-dated
    # or was overdue before the service knew it is alerted when its organization is reminded
    alerted_due_at: Mapped[datetime | None]


class Disbursement(Base):
    """One tranche (拨付) paid to a project."""

    __tablename__ = "disbursements"
    __table_args__ = (
        UniqueConstraint("project_id", "installment"),
        CheckConstraint("installment >= 1", name="installment_positive"),
        CheckConstraint("amount_fen >= 0", name="amount_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    installment: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    paid_on: Mapped[date] = mapped_column(Date)


class ProgressUpdate(Base):
    """Implementation progress; only rows with ``public`` true are ever shown to the public."""

    __tablename__ = "progress_updates"
    __table_args__ = (UniqueConstraint("project_id", "reported_on", "text_digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    reported_on: Mapped[date] = mapped_column(Date)
    text_zh: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str | None] = mapped_column(Text)
    # sha256 of text_zh: part of the natural key without indexing unbounded text
    text_digest: Mapped[str] = mapped_column(String(64))
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    author_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"))
    media_path: Mapped[str | None] = mapped_column(String(500))
    media_kind: Mapped[str | None] = mapped_column(String(16))


class Inspection(Base):
    __tablename__ = "inspections"
    __table_args__ = (
        UniqueConstraint("project_id", "kind", "held_on"),
        CheckConstraint(_in("kind", INSPECTION_KINDS), name="kind"),
        CheckConstraint(_in("result", INSPECTION_RESULTS), name="result"),
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= 100)", name="score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    held_on: Mapped[date] = mapped_column(Date)
    score: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(16))
    summary_zh: Mapped[str | None] = mapped_column(Text)
    summary_en: Mapped[str | None] = mapped_column(Text)


class Expert(Base):
    __tablename__ = "experts"
    __table_args__ = (CheckConstraint(_in("field", EXPERT_FIELDS), name="field"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    field: Mapped[str] = mapped_column(String(16))
    affiliation_uscc: Mapped[str | None] = mapped_column(String(18))


class Identity(Base):
    """A chat identity (one user on one channel) and its single binding, if any.

    Everyone is a resident; a binding makes the identity staff of one department, a member of
    one organization or an expert.
    """

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        CheckConstraint(_in("role", ROLES), name="role"),
        CheckConstraint(f"locale IS NULL OR {_in('locale', LOCALES)}", name="locale"),
        CheckConstraint(
            "(role = 'resident' AND department_id IS NULL AND organization_id IS NULL AND expert_id IS NULL)"
            " OR (role = 'staff' AND department_id IS NOT NULL AND organization_id IS NULL AND expert_id IS NULL)"
            " OR (role = 'org' AND organization_id IS NOT NULL AND department_id IS NULL AND expert_id IS NULL)"
            " OR (role = 'expert' AND expert_id IS NOT NULL AND department_id IS NULL AND organization_id IS NULL)",
            name="binding",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16), default="resident")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    expert_id: Mapped[int | None] = mapped_column(ForeignKey("experts.id"))
    display_name: Mapped[str | None] = mapped_column(String(100))
    locale: Mapped[str | None] = mapped_column(String(8))
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class Invite(Base):
    """A single-use binding code; only its SHA-256 is stored."""

    __tablename__ = "invites"
    __table_args__ = (CheckConstraint(_in("role", ("staff", "org", "expert")), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # the first characters of the code, so an operator can name it in `invite revoke`
    code_prefix: Mapped[str] = mapped_column(String(16), index=True)
    role: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Conversation(Base):
    """What a flow needs to continue with one identity: flow, step, slots, a version."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), unique=True)
    flow: Mapped[str | None] = mapped_column(String(48))
    step: Mapped[str | None] = mapped_column(String(48))
    slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class WebSession(Base):
    """A browser's session of the web chat: only the SHA-256 of its cookie key is stored."""

    __tablename__ = "web_sessions"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class HandledIncoming(Base):
    """Ids of incoming messages already handled, so a re-delivered one is skipped."""

    __tablename__ = "handled_incoming"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    handled_at: Mapped[datetime] = mapped_column(index=True)


class TurnReply(Base):
    """A turn's replies, written in the turn's transaction and deleted once the channel has sent them:
    a process that dies between the commit and the send leaves them here, and the channel sends them
    when it starts again (at least once: a reply in flight at the crash may go out twice)."""

    __tablename__ = "turn_replies"
    # No index but the key: a row lives from a turn's commit until its replies are sent (milliseconds), so
    # the table holds the turns in flight; every turn writes and deletes a row, and reads are rare (start-up,
    # a re-delivery, the retention's sweep).

    id: Mapped[int] = mapped_column(primary_key=True)  # a chat's replies go out in this order
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(64))  # the identity's external id in ``channel``
    incoming_key: Mapped[str] = mapped_column(String(96))  # the handled incoming's key
    replies: Mapped[list[Any]] = mapped_column(JSONType)  # ``Reply.to_json()`` of each, in order
    created_at: Mapped[datetime]


class SurveyResponse(Base):
    """One anonymous satisfaction response: no identity, no token, a date without a time."""

    __tablename__ = "survey_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_key: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    # None for responses imported from paper or phone surveys (they count as one closed survey)
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id", ondelete="SET NULL"), index=True)
    submitted_on: Mapped[date] = mapped_column(Date)


class SurveyAnswer(Base):
    __tablename__ = "survey_answers"
    __table_args__ = (
        UniqueConstraint("response_id", "item"),
        # covers the results queries: SQLite answers them from the index alone
        Index("ix_survey_answers_item_value", "item", "value_int", "response_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("survey_responses.id", ondelete="CASCADE"))
    item: Mapped[str] = mapped_column(String(32))
    value_int: Mapped[int | None] = mapped_column(Integer)
    value_text: Mapped[str | None] = mapped_column(Text)


class OutboxMessage(Base):
    """A message sent not as an answer (reminder, notice, invitation); delivered by the dispatcher."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("state", OUTBOX_STATES), name="state"),
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    # not indexed: nothing looks messages up by recipient (migration 0005), and every row would pay for it
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(48))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)  # a notice: store.notices.encode
    # the milestone the notice is about (store.notices.AboutMilestone): checked and completed when it is
    # sent; no foreign key (a milestone removed makes its notices stale, not anonymous), no index
    milestone_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # in ``sending``: which dispatcher run holds the row (host:pid:run), since when, and until when its
    # lease holds unless renewed; a row whose lease ran out is recovered
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]

    @property
    def notice(self) -> Notice:
        """The notice the row holds (``store.notices.UnreadableNotice`` if none this version reads)."""
        return decode(self.kind, self.payload, self.milestone_id)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(48))
    entity: Mapped[str] = mapped_column(String(48))
    entity_key: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


# --- channels ----------------------------------------------------------------------------------

class ChannelUpdate(Base):
    """A raw update recorded before the channel acknowledges it, so none is lost or handled twice."""

    __tablename__ = "channel_updates"
    __table_args__ = (Index("ix_channel_updates_pending", "channel", "handled_at", "update_id"),)

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_key: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]


class ButtonToken(Base):
    """Button data too long for a channel's limit (Telegram: 64 bytes), kept server-side."""

    __tablename__ = "button_tokens"

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)


# --- scheduling --------------------------------------------------------------------------------

class Lease(Base):
    """A named lease one process holds until it expires (the single-evaluator rule on SQLite)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(48), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]


# --- surveys -----------------------------------------------------------------------------------

class Survey(Base):
    """A satisfaction survey of one project, open between two moments."""

    __tablename__ = "surveys"
    __table_args__ = (CheckConstraint("closes_at > opens_at", name="window"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    template: Mapped[str] = mapped_column(String(48), default="standard")
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    created_at: Mapped[datetime]


class SurveyInvitation(Base):
    """A single-use survey token (hash only). Once used it keeps only the day, never who or when."""

    __tablename__ = "survey_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]


# --- residents' voice --------------------------------------------------------------------------

NEED_STATES = ("new", "taken", "declined")
TICKET_STATES = ("received", "investigating", "resolved", "unfounded")
TICKET_KINDS = ("not_delivered", "quality", "conduct", "funds", "other", "objection")


class Need(Base):
    """A service need suggested by a resident (需求征集); anonymous unless they consented to contact."""

    __tablename__ = "needs"
    __table_args__ = (
        CheckConstraint(_in("state", NEED_STATES), name="state"),
        CheckConstraint("identity_id IS NULL OR contact_consent", name="identity_needs_consent"),
        Index("ix_needs_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    category: Mapped[str] = mapped_column(String(100))
    district: Mapped[str | None] = mapped_column(String(50))
    target_group: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    media_path: Mapped[str | None] = mapped_column(String(500))
    contact_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    contact: Mapped[str | None] = mapped_column(String(100))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16), default="new")
    catalog_year: Mapped[int | None] = mapped_column(Integer)
    decision_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class Ticket(Base):
    """A resident's report of a problem with a project (监督投诉). Never shown to the organization."""

    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(_in("state", TICKET_STATES), name="state"),
        CheckConstraint(_in("kind", TICKET_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    media_path: Mapped[str | None] = mapped_column(String(500))
    contact: Mapped[str | None] = mapped_column(String(100))
    # the reporter's chat identity, kept only to tell them of each change; never shown to anyone
    reporter_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="received")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TicketEvent(Base):
    __tablename__ = "ticket_events"
    __table_args__ = (CheckConstraint(_in("state", TICKET_STATES), name="state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    staff_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"))
    at: Mapped[datetime]


class SubmissionCount(Base):
    """How many needs/complaints one identity filed on one day: rate limits without linking content."""

    __tablename__ = "submission_counts"

    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_digest: Mapped[str | None] = mapped_column(String(64))
    last_at: Mapped[datetime | None]


# --- expert review (review.md) -----------------------------------------------------------------

REVIEW_STAGES = ("approval", "acceptance")
COMMITTEE_STATES = ("committed", "active", "redrawn", "published")
MEMBER_STATES = ("reserve", "invited", "accepted", "declined", "timeout", "submitted")
EXCLUSION_REASONS = ("affiliated", "conflict", "unavailable", "unreachable")


class ExpertConflict(Base):
    """A standing conflict an expert declared with an organization: never drawn for its batches."""

    __tablename__ = "expert_conflicts"

    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime]


class ExpertUnavailability(Base):
    """A period staff marked an expert unavailable (both days included)."""

    __tablename__ = "expert_unavailability"
    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)


class ReviewCommittee(Base):
    """A committee drawn for one call and stage, with what verifies its draw (seed, pool, algorithm).

    ``committed``: only the seed is chosen (its SHA-256 may be published); ``active``: drawn;
    ``redrawn``: replaced by an explicit redraw; ``published``: results made public.
    """

    __tablename__ = "review_committees"
    __table_args__ = (
        CheckConstraint(_in("stage", REVIEW_STAGES), name="stage"),
        CheckConstraint(_in("state", COMMITTEE_STATES), name="state"),
        Index("ix_review_committees_call_stage", "call_id", "stage", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"))
    stage: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    seed: Mapped[str] = mapped_column(String(64))
    commitment: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(16))
    # [[code, field], ...] sorted: the experts left after the exclusions
    pool: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # {"members": {field: n}, "reserves": n}
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    drawn_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]


class ReviewSubject(Base):
    """One application (stage approval) or project (stage acceptance) of a committee's batch."""

    __tablename__ = "review_subjects"
    __table_args__ = (
        UniqueConstraint("committee_id", "application_id"),
        UniqueConstraint("committee_id", "project_id"),
        CheckConstraint("(application_id IS NULL) <> (project_id IS NULL)", name="one_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("review_committees.id", ondelete="CASCADE"))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))


class ReviewMember(Base):
    """A drawn expert (member or reserve, in draw order per field) and their invitation's fate."""

    __tablename__ = "review_members"
    __table_args__ = (
        UniqueConstraint("committee_id", "expert_id"),
        CheckConstraint(_in("state", MEMBER_STATES), name="state"),
        CheckConstraint(_in("field", EXPERT_FIELDS), name="field"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("review_committees.id", ondelete="CASCADE"))
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"), index=True)
    field: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)
    reserve: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    invited_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]


class ReviewExclusion(Base):
    __tablename__ = "review_exclusions"
    __table_args__ = (CheckConstraint(_in("reason", EXCLUSION_REASONS), name="reason"),)

    committee_id: Mapped[int] = mapped_column(ForeignKey("review_committees.id", ondelete="CASCADE"), primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(200))


class ReviewSheet(Base):
    """One member's review of one subject: the total of its scores, the comment, or a declared conflict."""

    __tablename__ = "review_sheets"
    __table_args__ = (
        UniqueConstraint("member_id", "subject_id"),
        # covering: the results read a committee's counted sheets from the index alone
        Index("ix_review_sheets_member_cover", "member_id", "conflict", "total", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("review_members.id", ondelete="CASCADE"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("review_subjects.id", ondelete="CASCADE"))
    conflict: Mapped[bool] = mapped_column(Boolean, default=False)
    total: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class ReviewScore(Base):
    __tablename__ = "review_scores"
    __table_args__ = (
        CheckConstraint("points >= 0", name="points_nonnegative"),
        # covering: per-criterion means without touching the rows
        Index("ix_review_scores_cover", "sheet_id", "criterion", "points"),
    )

    sheet_id: Mapped[int] = mapped_column(ForeignKey("review_sheets.id", ondelete="CASCADE"), primary_key=True)
    criterion: Mapped[str] = mapped_column(String(32), primary_key=True)
    points: Mapped[int] = mapped_column(Integer)


class PublicNotice(Base):
    """The public notice (公示) an approval opens: working days from ``starts_on`` to ``ends_on``."""

    __tablename__ = "public_notices"
    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="period"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date, index=True)
    contract_reminded_at: Mapped[datetime | None]
