"""Service providers (社会组织 and others) and the qualified providers list of each year."""

from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, one_of

ORG_KINDS = ("social_group", "social_service_org", "foundation", "enterprise", "public_institution", "other")
RATINGS = ("1A", "2A", "3A", "4A", "5A")


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint(one_of("kind", ORG_KINDS), name="kind"),
        CheckConstraint(f"rating IS NULL OR {one_of('rating', RATINGS)}", name="rating"),
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
