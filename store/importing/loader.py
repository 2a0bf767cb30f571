"""Loading one file of a package: parse rows, resolve them, compare with the database, write in batches.

``Run`` holds what the files of one import share (errors, reference maps, counts) and is the
``Context`` the table specs see. After the first error nothing more is written, but every row is
still checked so that the user gets all errors at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from store.importing.dialect import Dialect
from store.importing.errors import ImportError_, show_value
from store.importing.source import Cells, SourceError, Table
from store.importing.tables import CHILDREN, Column, Row, Spec
from store.importing.values import Invalid, Parser, a_datetime

# rows per write; also how often the progress callback hears about a file
BATCH_ROWS = 5000
# values per IN list (SQLite allows 32766 parameters)
CHUNK = 5000
AUDIT_COLUMNS = ("at", "actor", "action", "entity", "entity_key", "detail")
# tables whose emptiness at the start lets a file skip looking for stored rows
TABLES = (
    "departments", "districts", "catalog_items", "organizations", "qualifications", "experts", "budgets", "calls",
    "call_items", "projects", "milestones", "disbursements", "progress_updates", "inspections", "identities",
    "survey_responses", "survey_answers",
)
_REF_QUERIES = {
    "departments": "SELECT code, id FROM departments",
    "organizations": "SELECT uscc, id FROM organizations",
    "experts": "SELECT code, id FROM experts",
    "catalog": "SELECT year, code, id FROM catalog_items",
    "projects": "SELECT code, id FROM projects",
}
_LAST = 1 << 20  # sorts an error after the columns of its line

Progress = Callable[[str, int], None]
Batch = list[tuple[int, Cells, Hashable, Row]]


@dataclass
class TableCounts:
    """Rows of one file by what the import did with them."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def rows(self) -> int:
        return self.inserted + self.updated + self.unchanged


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _tuple_getter(names: Sequence[str]) -> Callable[[Row], tuple[Any, ...]]:
    if len(names) == 1:
        name = names[0]
        return lambda row: (row[name],)
    return itemgetter(*names)


class Run:
    """The state of one import, shared by its files; the ``Context`` of the table specs."""

    def __init__(self, db: Dialect, zone: ZoneInfo, now: datetime, actor: str, progress: Progress | None) -> None:
        self.db = db
        self.now = now
        self.now_native = db.native["datetime"](now)
        self.actor = actor
        self.progress = progress
        self.datetime_parser = a_datetime(zone)
        self.errors: list[tuple[tuple[int, int, int, int], ImportError_]] = []
        self.refs: dict[str, dict[Any, int | None]] = {}
        self.counts: dict[str, TableCounts] = {}
        self.labels: dict[str, str] = {}
        self.empty: dict[str, bool] = {}
        self.project_amounts: dict[str, tuple[int, int, object]] = {}
        self.disbursements: dict[str, list[tuple[int, int, int, object]]] = {}
        self.responses: dict[str, tuple[str, Any, int]] = {}
        # the row being converted or checked
        self._file: FileLoader | None = None
        self._line = 0
        self._cells: Cells = ()

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def add_error(
        self, rank: int, label: str, line: int, column: str, value: str, reason: str, column_rank: int = _LAST
    ) -> None:
        """Records an error; ``rank`` orders files, ``column_rank`` the errors of one line."""
        error = ImportError_(label, line, column, value, reason)
        self.errors.append(((rank, line, column_rank, len(self.errors)), error))

    def sorted_errors(self) -> list[ImportError_]:
        return [error for _, error in sorted(self.errors, key=lambda pair: pair[0])]

    def audit_row(self, action: str, entity: str, key: str, detail: dict[str, Any]) -> tuple[Any, ...]:
        return (self.now_native, self.actor, action, entity, key[:200], json.dumps(detail, ensure_ascii=False))

    # --- Context -----------------------------------------------------------------------------

    def at_row(self, file: FileLoader, line: int, cells: Cells) -> None:
        self._file, self._line, self._cells = file, line, cells

    def error(self, column: str, reason: str) -> None:
        assert self._file is not None
        self._file.error(self._line, column, self._file.raw(column, self._cells), reason)

    def line(self) -> int:
        return self._line

    def cell(self, column: str) -> object:
        assert self._file is not None
        pos = self._file.index.get(column)
        return self._cells[pos] if pos is not None and pos < len(self._cells) else None

    def carries(self, column: str) -> bool:
        assert self._file is not None
        return column in self._file.index

    # --- database state ----------------------------------------------------------------------

    async def prepare(self) -> None:
        for table in TABLES:
            self.empty[table] = not await self.db.fetch(f"SELECT 1 FROM {table} LIMIT 1")

    async def load_refs(self, name: str) -> None:
        """Reads a reference map (natural key -> id) from the database."""
        rows = await self.db.fetch(_REF_QUERIES[name])
        if name == "catalog":
            self.refs[name] = {(year, code): id_ for year, code, id_ in rows}
        else:
            self.refs[name] = {key: id_ for key, id_ in rows}


def _native_parser(column: Column, run: Run) -> Parser:
    parse = column.parse or run.datetime_parser
    if not column.kind or run.db.same_native(column.kind):
        return parse
    convert = run.db.native[column.kind]

    # dates repeat a lot in a package: parse and convert each distinct cell once
    @lru_cache(maxsize=8192)
    def parse_native(cell: object) -> object:
        return convert(parse(cell))

    return parse_native


class FileLoader:
    """Loads one file: parses rows, resolves them, compares and writes them batch by batch."""

    def __init__(self, run: Run, rank: int, spec: Spec, table: Table, counts: TableCounts) -> None:
        self.run = run
        self.rank = rank
        self.spec = spec
        self.table = table
        self.label = table.label
        self.counts = counts
        self.index: dict[str, int] = {}
        self.seen: dict[Hashable, int] = {}
        self.batch: Batch = []
        self.rows_read = 0
        self._check_header()
        native = run.db.native
        # an empty cell of a column with a default (brand, public, max_months) means that default
        empty = {f.carried_by: native[f.kind](f.default) for f in spec.fields if f.default is not None}
        columns = {c.name: c for c in spec.columns}
        self.present = [
            (name, pos, _native_parser(columns[name], run), columns[name].required, empty.get(name))
            for name, pos in self.index.items()
        ]
        self.width = len(table.header)
        # without all its required columns a file is still checked cell by cell, but not loaded
        self.complete = all(c.name in self.index for c in spec.columns if c.required)
        self.may_exist = not run.empty[spec.table]
        self.field_names = [f.name for f in spec.fields]
        self.carried = [f for f in spec.fields if f.carried_by in self.index]
        self.carried_names = [f.name for f in self.carried]
        self.carried_pos = [self.field_names.index(name) for name in self.carried_names]
        # a new row gets these for the columns the file does not carry
        self.defaults = tuple(native[f.kind](f.default) for f in spec.fields)
        self.all_carried = len(self.carried) == len(spec.fields)
        self.child = spec.child if spec.child is not None and spec.child.source in self.index else None
        self.key_names = [name for name, _ in spec.db_key]
        self.key_of = _tuple_getter(self.key_names)
        self.values_of = _tuple_getter(self.carried_names) if self.carried else (lambda row: ())
        self.extra_convs = [native[kind] for _, kind in spec.extra_columns]
        self.insert_columns = self.key_names + self.field_names + [c for c, _ in spec.extra_columns]
        self.insert_of = _tuple_getter(self.key_names + self.field_names)
        self.plain_inserts = (self.all_carried and not spec.has_check and self.child is None
                              and not spec.extra_columns)
        self.select = f"SELECT id, {', '.join(self.key_names + self.field_names)} FROM {spec.table}"
        assignments = ", ".join(f"{name} = ?" for name in self.carried_names)
        self.update_sql = f"UPDATE {spec.table} SET {assignments} WHERE id = ?"

    # --- errors ------------------------------------------------------------------------------

    def error(self, line: int, column: str, value: str, reason: str) -> None:
        first = column.split(", ")[0]
        self.run.add_error(self.rank, self.label, line, column, value, reason, self.index.get(first, _LAST))

    def raw(self, column: str, cells: Cells) -> str:
        pos = self.index.get(column)
        return show_value(cells[pos]) if pos is not None and pos < len(cells) else ""

    def _check_header(self) -> None:
        known = {c.name for c in self.spec.columns}
        for pos, name in enumerate(self.table.header):
            if not name:
                continue  # spreadsheets often carry empty formatted columns
            if name not in known:
                self.run.add_error(self.rank, self.label, 1, name, "", "unknown column", pos)
            elif name in self.index:
                self.run.add_error(self.rank, self.label, 1, name, "", "duplicate column", pos)
            else:
                self.index[name] = pos
        for column in self.spec.columns:
            if column.required and column.name not in self.index:
                self.run.add_error(self.rank, self.label, 1, column.name, "", "missing required column", _LAST - 1)

    # --- reading -----------------------------------------------------------------------------

    async def read(self) -> None:
        run, spec, seen = self.run, self.spec, self.seen
        present, width = self.present, self.width
        dedup_key, convert = spec.dedup_key, spec.convert
        provided = run.refs[spec.provides] if spec.provides is not None else None
        padding = [None] * width
        try:
            for line, cells in self.table.rows:
                self.rows_read += 1
                if len(cells) < width:
                    cells = [*cells, *padding[len(cells) :]]
                row: Row = {}
                problems: list[tuple[str, str, str]] | None = None
                for name, pos, parse, required, empty in present:
                    cell = cells[pos]
                    if cell is None:
                        if required:
                            problems = problems or []
                            problems.append((name, "", "required"))
                        else:
                            row[name] = empty
                        continue
                    try:
                        row[name] = parse(cell)
                    except Invalid as exc:
                        problems = problems or []
                        problems.append((name, show_value(cell), str(exc)))
                if len(cells) > width and any(c is not None for c in cells[width:]):
                    problems = problems or []
                    problems.append((f"column {width + 1}", show_value(cells[width]), "a cell beyond the header"))
                if problems is not None:
                    if all(c is None for c in cells):
                        continue  # a blank row
                    for name, value, reason in problems:
                        self.error(line, name, value, reason)
                key = dedup_key(row)
                if key is not None:
                    first = seen.setdefault(key, line)
                    if first != line:
                        self.error(line, ", ".join(spec.key), ", ".join(self.raw(k, cells) for k in spec.key),
                                   f"duplicate key (first on line {first})")
                        continue
                    if provided is not None:
                        # present in the package: later files may refer to it
                        provided.setdefault(key, None)
                if problems is None and self.complete:
                    run.at_row(self, line, cells)
                    if convert(run, row):
                        self.batch.append((line, cells, key, row))
                if self.rows_read % BATCH_ROWS == 0:
                    await self.flush()
        except SourceError as exc:
            self.run.add_error(self.rank, self.label, exc.line, "", "", exc.reason)
        await self.flush()

    # --- writing -----------------------------------------------------------------------------

    async def flush(self) -> None:
        batch, self.batch = self.batch, []
        if batch:
            await self.write(batch)
        if self.run.progress is not None:
            self.run.progress(self.label, self.rows_read)

    async def stored(self, wanted: list[set[Any]]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        """Stored rows whose ``spec.lookup`` columns hold the given values: key -> (id, key…, fields…)."""
        spec, db = self.spec, self.run.db
        if not all(wanted):
            return {}
        # chunk the longest list; the others are short (a channel, a year)
        big = max(range(len(wanted)), key=lambda i: len(wanted[i]))
        found: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        width = len(spec.db_key)
        for chunk in chunks(sorted(wanted[big])):
            clauses, params = [], []
            for i, name in enumerate(spec.lookup):
                clause, values = db.in_list(name, chunk if i == big else sorted(wanted[i]))
                clauses.append(clause)
                params.extend(values)
            for stored in await db.fetch(f"{self.select} WHERE {' AND '.join(clauses)}", params):
                found[stored[1 : 1 + width]] = stored
        return found

    async def lookup(self, keys: Iterable[tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        positions = [self.key_names.index(name) for name in self.spec.lookup]
        wanted: list[set[Any]] = [set() for _ in positions]
        for key in keys:
            for values, pos in zip(wanted, positions, strict=True):
                if key[pos] is not None:  # None: a reference only in the package, so a new row
                    values.add(key[pos])
        return await self.stored(wanted)

    async def stored_children(self, ids: list[int]) -> dict[int, set[Any]]:
        child = self.child
        assert child is not None
        result: dict[int, set[Any]] = {}
        for chunk in chunks(ids):
            where, params = self.run.db.in_list(child.fetch_parent, chunk)
            for parent, value in await self.run.db.fetch(child.fetch_sql.format(in_list=where), params):
                result.setdefault(parent, set()).add(value)
        return result

    def merged(self, base: Sequence[Any], row: Row) -> Row:
        """The record as it will be: ``base`` (stored or default values) with the file's columns over it."""
        record = dict(zip(self.field_names, base, strict=True))
        for name in self.carried_names:
            record[name] = row[name]
        return record

    async def write(self, batch: Batch) -> None:
        run, spec, db, counts = self.run, self.spec, self.run.db, self.counts
        key_of, values_of, child = self.key_of, self.values_of, self.child
        if self.plain_inserts and not self.may_exist:
            # a table empty before this import gets only new rows, which need no comparing
            fresh = [self.insert_of(row) for _, _, _, row in batch]
            counts.inserted += len(fresh)
            if not run.failed:
                await db.insert(spec.table, self.insert_columns, fresh)
            return
        keys = [key_of(row) for _, _, _, row in batch]
        existing = await self.lookup(keys) if self.may_exist else {}
        children = await self.stored_children([r[0] for r in existing.values()]) if child and existing else {}
        offset = 1 + len(self.key_names)
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        audit: list[tuple[Any, ...]] = []
        new_children: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = []
        replaced_children: list[tuple[int, tuple[Any, ...]]] = []
        for (line, cells, file_key, row), key in zip(batch, keys, strict=True):
            values = values_of(row)
            old = existing.get(key) if existing else None
            if spec.has_check:
                run.at_row(self, line, cells)
                if old is not None:
                    spec.check(run, self.merged(old[offset:], row))
                else:
                    spec.check(run, row if self.all_carried else self.merged(self.defaults, row))
            if old is None:
                if self.all_carried:
                    full: Sequence[Any] = values
                else:
                    full = list(self.defaults)
                    for pos, value in zip(self.carried_pos, values, strict=True):
                        full[pos] = value
                if self.extra_convs:
                    extra = [conv(x) for conv, x in zip(self.extra_convs, spec.extra(run, row), strict=True)]
                    inserts.append((*key, *full, *extra))
                else:
                    inserts.append((*key, *full))
                if child is not None:
                    new_children.append((key, row[CHILDREN][1]))
                counts.inserted += 1
                continue
            changes = {
                f.name: [db.to_json(f.kind, old[offset + pos]), db.to_json(f.kind, value)]
                for f, pos, value in zip(self.carried, self.carried_pos, values, strict=True)
                if old[offset + pos] != value
            }
            if child is not None:
                before, (after, stored_values) = children.get(old[0], set()), row[CHILDREN]
                if before != after:
                    changes[child.source] = [sorted(before), sorted(after)]
                    replaced_children.append((old[0], stored_values))
            if not changes:
                counts.unchanged += 1
                continue
            counts.updated += 1
            updates.append((*values, old[0]))
            audit.append(run.audit_row("import.update", spec.table, spec.entity_key(file_key),
                                       {"source": f"{self.label}:{line}", "changes": changes}))
        if run.failed:
            return
        if inserts:
            await db.insert(spec.table, self.insert_columns, inserts)
        if updates and self.carried:
            await db.execute_many(self.update_sql, updates)
        if new_children or replaced_children:
            await self._write_children(new_children, replaced_children)
        if audit:
            await db.insert("audit_log", AUDIT_COLUMNS, audit)

    async def _write_children(
        self, new: list[tuple[tuple[Any, ...], tuple[Any, ...]]], replaced: list[tuple[int, tuple[Any, ...]]]
    ) -> None:
        child, db = self.child, self.run.db
        assert child is not None
        rows: list[tuple[Any, ...]] = []
        if new:
            ids = {key: stored[0] for key, stored in (await self.lookup([key for key, _ in new])).items()}
            rows.extend((ids[key], value) for key, values in new for value in values)
        for chunk in chunks([parent for parent, _ in replaced]):
            where, params = db.in_list(child.parent, chunk)
            await db.execute_many(f"DELETE FROM {child.table} WHERE {where}", [tuple(params)])
        rows.extend((parent, value) for parent, values in replaced for value in values)
        if rows:
            await db.insert(child.table, (child.parent, child.value), rows)


class SurveyLoader(FileLoader):
    """survey_responses.csv: each row is an answer; the rows of one response id also make its header."""

    async def write(self, batch: Batch) -> None:
        run, db, counts = self.run, self.run.db, self.counts
        heads: dict[str, tuple[Any, Any]] = {}
        first_lines: dict[str, int] = {}
        for line, _, _, row in batch:
            if row["response_id"] not in heads:
                heads[row["response_id"]] = (row["project_id"], row["submitted_on"])
                first_lines[row["response_id"]] = line
        stored: dict[str, tuple[int, Any, Any]] = {}
        # the rows of a response may span batches: after the first batch its header may be stored
        if self.may_exist or self.rows_read > BATCH_ROWS:
            for chunk in chunks(sorted(heads)):
                where, params = db.in_list("response_key", chunk)
                for id_, key, project_id, submitted in await db.fetch(
                    f"SELECT id, response_key, project_id, submitted_on FROM survey_responses WHERE {where}", params
                ):
                    stored[key] = (id_, project_id, submitted)
        audit: list[tuple[Any, ...]] = []
        changed: list[tuple[Any, Any, int]] = []
        for key, (project_id, submitted) in heads.items():
            old = stored.get(key)
            if old is not None and (old[1], old[2]) != (project_id, submitted):
                changed.append((project_id, submitted, old[0]))
                diff = {name: [db.to_json(kind, a), db.to_json(kind, b)]
                        for name, kind, a, b in (("project_id", "int", old[1], project_id),
                                                 ("submitted_on", "date", old[2], submitted)) if a != b}
                audit.append(run.audit_row("import.update", "survey_responses", key,
                                           {"source": f"{self.label}:{first_lines[key]}", "changes": diff}))
        changed_ids = {id_ for _, _, id_ in changed}
        answers: dict[tuple[int, str], tuple[int, Any, Any]] = {}
        for chunk in chunks(sorted(old[0] for old in stored.values())):
            where, params = db.in_list("response_id", chunk)
            for id_, response_id, item, value_int, value_text in await db.fetch(
                f"SELECT id, response_id, item, value_int, value_text FROM survey_answers WHERE {where}", params
            ):
                answers[(response_id, item)] = (id_, value_int, value_text)
        ids: dict[str, int] = {key: old[0] for key, old in stored.items()}
        new_heads = [(key, *head) for key, head in heads.items() if key not in stored]
        if new_heads and not run.failed:
            await db.insert("survey_responses", ("response_key", "project_id", "submitted_on"), new_heads)
            for chunk in chunks([key for key, _, _ in new_heads]):
                where, params = db.in_list("response_key", chunk)
                ids.update(await db.fetch(f"SELECT response_key, id FROM survey_responses WHERE {where}", params))
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        for line, _, _, row in batch:
            rid, item, value_int, value_text = row["response_id"], row["item"], row["value_int"], row["value_text"]
            response_id = ids.get(rid)
            old = answers.get((response_id, item)) if response_id is not None else None
            if old is None:
                inserts.append((response_id, item, value_int, value_text))
                counts.inserted += 1
            elif (old[1], old[2]) != (value_int, value_text):
                updates.append((value_int, value_text, old[0]))
                before = old[1] if old[2] is None else old[2]
                after = value_int if value_text is None else value_text
                audit.append(run.audit_row("import.update", "survey_answers", f"{rid}/{item}",
                                           {"source": f"{self.label}:{line}", "changes": {"value": [before, after]}}))
                counts.updated += 1
            elif response_id in changed_ids:
                counts.updated += 1
            else:
                counts.unchanged += 1
        if run.failed:
            return
        if changed:
            await db.execute_many("UPDATE survey_responses SET project_id = ?, submitted_on = ? WHERE id = ?", changed)
        if inserts:
            await db.insert("survey_answers", ("response_id", "item", "value_int", "value_text"), inserts)
        if updates:
            await db.execute_many("UPDATE survey_answers SET value_int = ?, value_text = ? WHERE id = ?", updates)
        if audit:
            await db.insert("audit_log", AUDIT_COLUMNS, audit)
