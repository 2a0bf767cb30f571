"""What the government buys and from whom it funds it: departments, districts, the guidance catalog,
yearly budgets and calls for applications."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from store.models.base import Base


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
