"""Who talks to the service: chat identities and their binding, invites to bind, web chat sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, one_of

ROLES = ("resident", "staff", "org", "expert")
LOCALES = ("zh-Hans", "zh-Hant", "en")  # the languages of the product: the one definition (dialogs.i18n, bot.config)


class Identity(Base):
    """A chat identity (one user on one channel) and its single binding, if any.

    Everyone is a resident; a binding makes the identity staff of one department, a member of
    one organization or an expert.
    """

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        CheckConstraint(one_of("role", ROLES), name="role"),
        CheckConstraint(f"locale IS NULL OR {one_of('locale', LOCALES)}", name="locale"),
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
    __table_args__ = (CheckConstraint(one_of("role", ("staff", "org", "expert")), name="role"),)

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


class WebSession(Base):
    """A browser's session of the web chat: only the SHA-256 of its cookie key is stored."""

    __tablename__ = "web_sessions"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
