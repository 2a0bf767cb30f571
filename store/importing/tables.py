"""What each file of a package holds: its columns, natural key, the database columns it writes, its rules.

A ``Spec`` completes a parsed row with its database values (resolving references through the
``Context``) and checks the rules between columns of one record. The loader in ``store.importer``
does the streaming, batching, comparing and writing, the same way for every table. Row values are
in the database's native form (see ``store.importing.dialect``) as soon as they are parsed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, Protocol, cast

from store import models as m
from store.importing import values as v
from store.lifecycle import grade_of

MISSING: Any = object()
# where ``convert`` puts a list column's set: (values compared, values the child rows store)
CHILDREN = "__children__"

Row = dict[str, Any]


class Context(Protocol):
    """What a spec may use of the running import."""

    now: datetime
    now_native: Any
    refs: dict[str, dict[Any, int | None]]
    # response id -> (project code, submitted_on, first line): the rows of a response must agree
    responses: dict[str, tuple[str, Any, int]]
    project_amounts: dict[str, tuple[int, int, object]]
    disbursements: dict[str, list[tuple[int, int, int, object]]]

    def error(self, column: str, reason: str) -> None:
        """Reports a problem with ``column`` of the row being converted or checked."""

    def line(self) -> int:
        """The line of the row being converted."""

    def cell(self, column: str) -> object:
        """The cell of ``column`` in the row being converted, as read from the file."""

    def carries(self, column: str) -> bool:
        """Whether the file being loaded has ``column``."""


@dataclass(frozen=True)
class Column:
    """A column of the file.

    ``parse`` None marks a date-time, read in the import's time zone. Values of a ``kind``
    (date, datetime, bool) are turned into the database's native form right after parsing.
    """

    name: str
    parse: v.Parser | None
    required: bool = False
    kind: str = ""


@dataclass(frozen=True)
class Field:
    """A database column the file writes; ``source`` is the file column that carries it."""

    name: str
    kind: str = "text"  # text | int | bool | date | datetime
    source: str = ""
    default: Any = None

    @property
    def carried_by(self) -> str:
        return self.source or self.name


@dataclass(frozen=True)
class ChildSet:
    """A list column stored as rows of a child table, compared as a set of the listed values."""

    source: str
    table: str
    parent: str
    value: str
    # (parent id, listed value) of stored children; "{in_list}" filters on ``fetch_parent``
    fetch_sql: str
    fetch_parent: str


def _length(model: type[m.Base], column: str) -> int | None:
    length: int | None = getattr(model.__table__.c[column].type, "length", None)
    return length


def _text(model: type[m.Base], column: str, required: bool = False, name: str | None = None) -> Column:
    return Column(name or column, v.text(_length(model, column)), required)


def _on(name: str, required: bool = False) -> Column:
    return Column(name, v.a_date, required, "date")


def _at(name: str, required: bool = False) -> Column:
    return Column(name, None, required, "datetime")


def _flag(name: str) -> Column:
    return Column(name, v.boolean, False, "bool")


class Spec:
    """The common shape of a table; subclasses fill in the class attributes and override hooks."""

    name: str
    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # the natural key in the database: (column, kind); the row holds these names after ``convert``
    db_key: tuple[tuple[str, str], ...]
    fields: tuple[Field, ...]
    needs: tuple[str, ...] = ()
    provides: str | None = None
    child: ChildSet | None = None
    # insert-only columns whose values come from ``extra``
    extra_columns: tuple[tuple[str, str], ...] = ()
    # key columns whose values select the stored rows of a batch (an index must start with them);
    # empty: the first one
    lookup: tuple[str, ...] = ()
    has_check = False

    def __init__(self) -> None:
        self._key_of = itemgetter(*self.key)
        if not self.lookup:
            self.lookup = (self.db_key[0][0],)

    def dedup_key(self, row: Row) -> Hashable | None:
        """The natural key as written in the file, or None when a key cell is empty or invalid."""
        try:
            key: Hashable = self._key_of(row)
        except KeyError:
            return None
        if key is None or (type(key) is tuple and None in key):
            return None
        return key

    def convert(self, ctx: Context, row: Row) -> bool:
        """Adds the database values that differ from the file's (ids of references…); False if invalid."""
        return True

    def check(self, ctx: Context, merged: Row) -> None:
        """Rules between columns of one record, on the record as it will be stored."""

    def extra(self, ctx: Context, row: Row) -> tuple[Any, ...]:
        """Values of ``extra_columns`` for a new row (Python values, not native ones)."""
        return ()

    def entity_key(self, key: Hashable) -> str:
        parts = key if isinstance(key, tuple) else (key,)
        return "/".join(str(p) for p in parts)[:200]


def resolve(ctx: Context, kind: str, key: Any, column: str, what: str) -> Any:
    """The id of a referenced record (None if it is only in the package); MISSING after an error."""
    found = ctx.refs[kind].get(key, MISSING)
    if found is MISSING:
        ctx.error(column, f"no such {what} in the package or the database")
    return found


# --- reference data ---------------------------------------------------------------------------


class Departments(Spec):
    name = table = "departments"
    columns = (_text(m.Department, "code", True), _text(m.Department, "name_zh", True),
               _text(m.Department, "name_en"))
    key = ("code",)
    db_key = (("code", "text"),)
    fields = (Field("name_zh"), Field("name_en"))
    provides = "departments"


class Districts(Spec):
    name = table = "districts"
    columns = (_text(m.District, "name_zh", True), _text(m.District, "name_en"))
    key = ("name_zh",)
    db_key = (("name_zh", "text"),)
    fields = (Field("name_en"),)


class Catalog(Spec):
    name = "catalog"
    table = "catalog_items"
    columns = (
        Column("year", v.year, True), _text(m.CatalogItem, "code", True),
        _text(m.CatalogItem, "level1_zh", True), _text(m.CatalogItem, "level1_en"),
        _text(m.CatalogItem, "name_zh", True), _text(m.CatalogItem, "name_en"),
        _text(m.CatalogItem, "description_zh"), _text(m.CatalogItem, "description_en"),
        _text(m.Department, "code", True, "department_code"), Column("ceiling_cny", v.amount_fen),
    )
    key = ("year", "code")
    db_key = (("year", "int"), ("code", "text"))
    fields = (
        Field("level1_zh"), Field("level1_en"), Field("name_zh"), Field("name_en"), Field("description_zh"),
        Field("description_en"), Field("department_id", "int", "department_code"),
        Field("ceiling_fen", "int", "ceiling_cny"),
    )
    needs = ("departments",)
    provides = "catalog"

    def convert(self, ctx: Context, row: Row) -> bool:
        row["department_id"] = resolve(ctx, "departments", row["department_code"], "department_code", "department")
        row["ceiling_fen"] = row.get("ceiling_cny")
        return row["department_id"] is not MISSING


class Organizations(Spec):
    name = table = "organizations"
    columns = (
        Column("uscc", v.uscc, True), _text(m.Organization, "name_zh", True), _text(m.Organization, "name_en"),
        Column("kind", v.choice(m.ORG_KINDS), True), _text(m.Organization, "district"),
        Column("rating", v.choice(m.RATINGS)), Column("qualified_years", v.list_of(v.year)),
        _on("barred_until"),
    )
    key = ("uscc",)
    db_key = (("uscc", "text"),)
    fields = (Field("name_zh"), Field("name_en"), Field("kind"), Field("district"), Field("rating"),
              Field("barred_until", "date"))
    provides = "organizations"
    child = ChildSet(
        "qualified_years", "qualifications", "organization_id", "year",
        "SELECT organization_id, year FROM qualifications WHERE {in_list}", "organization_id",
    )

    def convert(self, ctx: Context, row: Row) -> bool:
        years = row.get("qualified_years") or ()
        row[CHILDREN] = (frozenset(years), years)
        return True


class Experts(Spec):
    name = table = "experts"
    columns = (
        _text(m.Expert, "code", True), _text(m.Expert, "name", True),
        Column("field", v.choice(m.EXPERT_FIELDS), True), Column("affiliation_uscc", v.uscc),
    )
    key = ("code",)
    db_key = (("code", "text"),)
    fields = (Field("name"), Field("field"), Field("affiliation_uscc"))
    provides = "experts"


class Budgets(Spec):
    name = table = "budgets"
    columns = (
        Column("year", v.year, True), _text(m.Department, "code", True, "department_code"),
        Column("amount_cny", v.amount_fen, True), _text(m.Budget, "note_zh"), _text(m.Budget, "note_en"),
    )
    key = ("year", "department_code")
    db_key = (("year", "int"), ("department_id", "int"))
    fields = (Field("amount_fen", "int", "amount_cny"), Field("note_zh"), Field("note_en"))
    needs = ("departments",)

    def convert(self, ctx: Context, row: Row) -> bool:
        row["department_id"] = resolve(ctx, "departments", row["department_code"], "department_code", "department")
        row["amount_fen"] = row["amount_cny"]
        return row["department_id"] is not MISSING


class Calls(Spec):
    name = table = "calls"
    columns = (
        _text(m.Call, "code", True), Column("year", v.year, True), _text(m.Call, "title_zh", True),
        _text(m.Call, "title_en"), _at("opens_at", True), _at("closes_at", True),
        Column("catalog_codes", v.list_of(v.text(_length(m.CatalogItem, "code"))), True),
        Column("max_months", v.integer(1, 36)),
    )
    key = ("code",)
    db_key = (("code", "text"),)
    fields = (
        Field("year", "int"), Field("title_zh"), Field("title_en"), Field("opens_at", "datetime"),
        Field("closes_at", "datetime"), Field("max_months", "int", default=12),
    )
    needs = ("catalog",)
    child = ChildSet(
        "catalog_codes", "call_items", "call_id", "catalog_item_id",
        "SELECT ci.call_id, c.code FROM call_items ci JOIN catalog_items c ON c.id = ci.catalog_item_id"
        " WHERE {in_list}", "ci.call_id",
    )
    has_check = True

    def convert(self, ctx: Context, row: Row) -> bool:
        year, codes = row["year"], row["catalog_codes"]
        ids = []
        for code in codes:
            found = ctx.refs["catalog"].get((year, code), MISSING)
            if found is MISSING:
                ctx.error("catalog_codes", f"'{code}' is not a catalog item of {year} in the package or the database")
                return False
            ids.append(found)
        row[CHILDREN] = (frozenset(codes), tuple(ids))
        return True

    def check(self, ctx: Context, merged: Row) -> None:
        opens, closes = merged["opens_at"], merged["closes_at"]
        if opens is not None and closes is not None and closes <= opens:
            ctx.error("closes_at" if ctx.carries("closes_at") else "opens_at", "closes_at must be after opens_at")


# --- projects and what happens to them --------------------------------------------------------


class Projects(Spec):
    name = table = "projects"
    columns = (
        _text(m.Project, "code", True), Column("year", v.year, True), _text(m.Project, "title_zh", True),
        _text(m.Project, "title_en"), _text(m.CatalogItem, "code", True, "catalog_code"),
        Column("uscc", v.uscc, True), _text(m.Department, "code", True, "department_code"),
        _text(m.Project, "district"), Column("recipients", v.integer(0)),
        Column("amount_cny", v.amount_fen, True), Column("status", v.choice(m.PROJECT_STATUSES), True),
        _on("start_on", True), _on("end_on", True),
        _text(m.Project, "target_group_zh"), _text(m.Project, "target_group_en"),
        _text(m.Project, "summary_zh"), _text(m.Project, "summary_en"),
        Column("grade", v.choice(m.GRADES)), Column("evaluation_score", v.integer(0, 100)), _flag("brand"),
    )
    key = ("code",)
    db_key = (("code", "text"),)
    fields = (
        Field("year", "int"), Field("title_zh"), Field("title_en"), Field("catalog_item_id", "int", "catalog_code"),
        Field("organization_id", "int", "uscc"), Field("department_id", "int", "department_code"),
        Field("district"), Field("recipients", "int"), Field("amount_fen", "int", "amount_cny"), Field("status"),
        Field("start_on", "date"), Field("end_on", "date"), Field("target_group_zh"), Field("target_group_en"),
        Field("summary_zh"), Field("summary_en"), Field("grade"), Field("evaluation_score", "int"),
        Field("brand", "bool", default=False),
    )
    needs = ("departments", "organizations", "catalog")
    provides = "projects"
    has_check = True

    def convert(self, ctx: Context, row: Row) -> bool:
        item = ctx.refs["catalog"].get((row["year"], row["catalog_code"]), MISSING)
        if item is MISSING:
            ctx.error("catalog_code", f"no such catalog item of {row['year']} in the package or the database")
        org = resolve(ctx, "organizations", row["uscc"], "uscc", "organization")
        department = resolve(ctx, "departments", row["department_code"], "department_code", "department")
        amount = row["amount_fen"] = row["amount_cny"]
        ctx.project_amounts[row["code"]] = (amount, ctx.line(), ctx.cell("amount_cny"))
        row["catalog_item_id"], row["organization_id"], row["department_id"] = item, org, department
        return MISSING not in (item, org, department)

    def check(self, ctx: Context, merged: Row) -> None:
        start, end = merged["start_on"], merged["end_on"]
        if start is not None and end is not None and end < start:
            ctx.error("end_on" if ctx.carries("end_on") else "start_on", "end_on is before start_on")
        grade, score = merged["grade"], merged["evaluation_score"]
        if grade is not None and score is not None:
            expected = grade_of(score)
            if grade != expected:
                column = "grade" if ctx.carries("grade") else "evaluation_score"
                ctx.error(column, f"grade '{grade}' disagrees with evaluation score {score} ({expected})")


class _OfProject(Spec):
    """Rows that belong to a project, keyed by its code first."""

    needs = ("projects",)

    def convert(self, ctx: Context, row: Row) -> bool:
        project = row["project_id"] = ctx.refs["projects"].get(row["project_code"], MISSING)
        if project is MISSING:
            ctx.error("project_code", "no such project in the package or the database")
            return False
        return True


class Milestones(_OfProject):
    name = table = "milestones"
    columns = (
        _text(m.Project, "code", True, "project_code"), Column("kind", v.choice(m.MILESTONE_KINDS), True),
        _at("due_at", True), _at("done_at"),
    )
    key = ("project_code", "kind")
    db_key = (("project_id", "int"), ("kind", "text"))
    fields = (Field("due_at", "datetime"), Field("done_at", "datetime"))

    def convert(self, ctx: Context, row: Row) -> bool:
        done = row.get("done_at")
        if done is not None and done > ctx.now_native:
            ctx.error("done_at", "in the future")
            return False
        return super().convert(ctx, row)


class Disbursements(_OfProject):
    name = table = "disbursements"
    columns = (
        _text(m.Project, "code", True, "project_code"), Column("installment", v.integer(1, 10_000), True),
        Column("amount_cny", v.amount_fen, True), _on("paid_on", True),
    )
    key = ("project_code", "installment")
    db_key = (("project_id", "int"), ("installment", "int"))
    fields = (Field("amount_fen", "int", "amount_cny"), Field("paid_on", "date"))

    def convert(self, ctx: Context, row: Row) -> bool:
        if not super().convert(ctx, row):
            return False
        amount = row["amount_fen"] = row["amount_cny"]
        ctx.disbursements.setdefault(row["project_code"], []).append(
            (row["installment"], amount, ctx.line(), ctx.cell("amount_cny"))
        )
        return True


def text_digest(text_zh: str) -> str:
    return hashlib.sha256(text_zh.encode()).hexdigest()


class Progress(_OfProject):
    name = "progress"
    table = "progress_updates"
    columns = (
        _text(m.Project, "code", True, "project_code"), _on("reported_on", True),
        Column("text_zh", v.text(None), True), Column("text_en", v.text(None)), _flag("public"),
    )
    key = ("project_code", "reported_on", "text_zh")
    db_key = (("project_id", "int"), ("reported_on", "date"), ("text_digest", "text"))
    fields = (Field("text_zh"), Field("text_en"), Field("public", "bool", default=True))

    def dedup_key(self, row: Row) -> Hashable | None:
        """The key with the text's digest in place of the text (a smaller set of keys seen); sets text_digest."""
        code, reported_on, text = row.get("project_code"), row.get("reported_on"), row.get("text_zh")
        if code is None or reported_on is None or text is None:
            return None
        digest = row["text_digest"] = text_digest(text)
        return (code, reported_on, digest)

    def entity_key(self, key: Hashable) -> str:
        code, reported_on, digest = cast("tuple[str, str, str]", key)
        return f"{code}/{reported_on}/{digest[:16]}"


class Inspections(_OfProject):
    name = table = "inspections"
    columns = (
        _text(m.Project, "code", True, "project_code"), Column("kind", v.choice(m.INSPECTION_KINDS), True),
        _on("held_on", True), Column("score", v.integer(0, 100)),
        Column("result", v.choice(m.INSPECTION_RESULTS), True), _text(m.Inspection, "summary_zh"),
        _text(m.Inspection, "summary_en"),
    )
    key = ("project_code", "kind", "held_on")
    db_key = (("project_id", "int"), ("kind", "text"), ("held_on", "date"))
    fields = (Field("score", "int"), Field("result"), Field("summary_zh"), Field("summary_en"))


# --- people -----------------------------------------------------------------------------------

CHANNELS = ("telegram", "console", "web")
MEMBER_ROLES = ("staff", "org", "expert")
# role -> (reference map, database column, what the reference names)
_BINDINGS = {
    "staff": ("departments", "department_id", "department"),
    "org": ("organizations", "organization_id", "organization"),
    "expert": ("experts", "expert_id", "expert"),
}


class Members(Spec):
    name = "members"
    table = "identities"
    columns = (
        Column("channel", v.choice(CHANNELS), True), _text(m.Identity, "external_id", True),
        Column("role", v.choice(MEMBER_ROLES), True), _text(m.Invite, "ref", True),
        _text(m.Identity, "display_name"), Column("locale", v.choice(m.LOCALES)),
    )
    key = ("channel", "external_id")
    db_key = (("channel", "text"), ("external_id", "text"))
    fields = (
        Field("role"), Field("department_id", "int", "ref"), Field("organization_id", "int", "ref"),
        Field("expert_id", "int", "ref"), Field("display_name"), Field("locale"),
    )
    needs = ("departments", "organizations", "experts")
    lookup = ("channel", "external_id")
    extra_columns = (("created_at", "datetime"), ("unreachable", "bool"))

    def convert(self, ctx: Context, row: Row) -> bool:
        if row["channel"] == "telegram" and not row["external_id"].isdigit():
            ctx.error("external_id", "not a Telegram user id (expected digits)")
            return False
        refs, column, what = _BINDINGS[row["role"]]
        target = resolve(ctx, refs, row["ref"], "ref", what)
        row.update(department_id=None, organization_id=None, expert_id=None)
        row[column] = target
        return target is not MISSING

    def extra(self, ctx: Context, row: Row) -> tuple[Any, ...]:
        return (ctx.now, False)


# --- survey answers ---------------------------------------------------------------------------

_SCALE = v.integer(1, 5)
# item code of the standard satisfaction template -> parser of its answers; ints go to value_int
SURVEY_ITEMS: dict[str, v.Parser] = {
    "needs_met": _SCALE, "attitude": _SCALE, "skill": _SCALE, "convenience": _SCALE,
    "helpfulness": _SCALE, "responsiveness": _SCALE, "overall": _SCALE,
    "recommend": v.integer(0, 10),
    "suggestion": v.text(None),
    "age_group": v.choice(("under_18", "18_59", "60_79", "80_plus")),
    "sessions": v.integer(0),
    "what_went_wrong": v.text(None),
}


class SurveyResponses(_OfProject):
    """One row per answer; the rows of one response id also make its ``SurveyResponse``."""

    name = table = "survey_responses"
    columns = (
        _text(m.SurveyResponse, "response_key", True, "response_id"),
        _text(m.Project, "code", True, "project_code"), _on("submitted_on", True),
        Column("item", v.choice(SURVEY_ITEMS), True), Column("value", v.text(None), True),
    )
    key = ("response_id", "item")
    db_key = (("response_id", "int"), ("item", "text"))
    fields = (Field("value_int", "int", "value"), Field("value_text", "text", "value"))

    def convert(self, ctx: Context, row: Row) -> bool:
        rid, code, submitted = row["response_id"], row["project_code"], row["submitted_on"]
        first = ctx.responses.setdefault(rid, (code, submitted, ctx.line()))
        for column, value, before in (("project_code", code, first[0]), ("submitted_on", submitted, first[1])):
            if value != before:
                ctx.error(column, f"differs from line {first[2]} of response {rid} ({before})")
                return False
        found = super().convert(ctx, row)
        try:
            answer = SURVEY_ITEMS[row["item"]](row["value"])
        except v.Invalid as exc:
            ctx.error("value", f"{exc} for item {row['item']}")
            return False
        is_int = type(answer) is int
        row["value_int"], row["value_text"] = (answer, None) if is_int else (None, answer)
        return found


SPECS: tuple[Spec, ...] = (
    Departments(), Districts(), Organizations(), Experts(), Catalog(), Budgets(), Calls(), Projects(), Milestones(),
    Disbursements(), Progress(), Inspections(), Members(), SurveyResponses(),
)
