"""Reading a package: a folder of CSV files or an XLSX workbook, streamed row by row.

Every table comes out the same way: a header and ``(line, cells)`` pairs, where ``line`` is the
row number a spreadsheet shows and empty cells are ``None``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

Cells = Sequence[object]

# a number format with an hour or second part shows a time; without one the cell is a plain date
_TIME_FORMAT = re.compile(r"[hs]", re.IGNORECASE)
_QUOTED = re.compile(r'"[^"]*"|\[[^\]]*\]')


class SourceError(Exception):
    """A problem with the package as a whole or one of its files (not with a cell)."""

    def __init__(self, label: str, line: int, reason: str) -> None:
        super().__init__(f"{label}:{line}: {reason}")
        self.label = label
        self.line = line
        self.reason = reason


@dataclass
class Table:
    """One file (or sheet) of the package."""

    name: str  # the table name: the file name without .csv, or the sheet name
    label: str  # how errors name it: "projects.csv" or "package.xlsx[projects]"
    header: list[str] = field(default_factory=list)
    rows: Iterator[tuple[int, Cells]] = field(default_factory=lambda: iter(()))


class Package:
    """The tables of a package in the order found; use as a context manager to close files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._closers: list[Any] = []
        self.tables: dict[str, Table] = {}
        # labels of files or sheets that are not tables, reported as errors by the caller
        self.stray: list[str] = []
        # tables that cannot be read at all, by name
        self.unreadable: dict[str, SourceError] = {}
        self.is_workbook = path.suffix.lower() == ".xlsx"

    def __enter__(self) -> Package:
        return self

    def __exit__(self, *_exc: object) -> None:
        for close in self._closers:
            close()

    def open(self, known: Sequence[str]) -> None:
        if self.is_workbook and self.path.is_file():
            self._open_workbook(known)
        elif self.path.is_dir():
            self._open_folder(known)
        elif self.path.is_file() and self.path.suffix.lower() == ".csv":
            self._open_csv_files([self.path], known)
        elif not self.path.exists():
            raise SourceError(str(self.path), 1, "no such file or folder")
        else:
            raise SourceError(str(self.path), 1, "not a folder of CSV files or an .xlsx workbook")

    def _open_folder(self, known: Sequence[str]) -> None:
        entries = sorted(p for p in self.path.iterdir() if not p.name.startswith("."))
        self._open_csv_files(entries, known)

    def _open_csv_files(self, entries: list[Path], known: Sequence[str]) -> None:
        for entry in entries:
            if entry.is_file() and entry.suffix == ".csv" and entry.stem in known:
                try:
                    self.tables[entry.stem] = _CsvFile(entry).table()
                except SourceError as exc:
                    self.unreadable[entry.stem] = exc
            else:
                self.stray.append(entry.name)

    def _open_workbook(self, known: Sequence[str]) -> None:
        try:
            book = load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise SourceError(self.path.name, 1, f"not a readable .xlsx workbook ({exc})") from None
        self._closers.append(book.close)
        for sheet in book.worksheets:
            label = f"{self.path.name}[{sheet.title}]"
            if sheet.title not in known:
                self.stray.append(label)
                continue
            rows = _sheet_rows(sheet)
            header_line = next(rows, None)
            header = [] if header_line is None else [_header_cell(c) for c in header_line[1]]
            self.tables[sheet.title] = Table(sheet.title, label, header, rows)


def _header_cell(cell: object) -> str:
    return "" if cell is None else str(cell).strip()


class _CsvFile:
    """A CSV file: its header is read at once, its rows when the import reaches it (one file open at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def table(self) -> Table:
        label = self.path.name
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            try:
                first = next(csv.reader(handle), [])
            except UnicodeDecodeError:
                raise SourceError(label, _first_bad_line(self.path), _NOT_UTF8) from None
        return Table(self.path.stem, label, [c.strip() for c in first], self._rows(label))

    def _rows(self, label: str) -> Iterator[tuple[int, Cells]]:
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            line = 1
            try:
                next(reader, None)
                for line, record in enumerate(reader, start=2):
                    yield line, [c.strip() or None for c in record]
            except UnicodeDecodeError:
                raise SourceError(label, _first_bad_line(self.path), _NOT_UTF8) from None


_NOT_UTF8 = "not UTF-8 text (save the file as \"CSV UTF-8\")"


def _first_bad_line(path: Path) -> int:
    """The row holding the first byte that is not UTF-8 (text is decoded by the block, so the row being
    read when decoding fails may be far before it): read again, keeping undecodable bytes as surrogates."""
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        for line, record in enumerate(csv.reader(handle), start=1):
            for cell in record:
                try:
                    cell.encode()
                except UnicodeEncodeError:
                    return line
    return 1


def _sheet_rows(sheet: Any) -> Iterator[tuple[int, Cells]]:
    for line, row in enumerate(sheet.iter_rows(min_row=1), start=1):
        yield line, [_cell_value(cell) for cell in row]


def _cell_value(cell: Any) -> object:
    value = cell.value
    if value is None:
        return None
    if type(value) is str:
        return value.strip() or None
    if isinstance(value, datetime) and value.time() == time(0):
        fmt = _QUOTED.sub("", cell.number_format or "")
        if not _TIME_FORMAT.search(fmt):
            # a date-only cell: tell it apart from midnight so `_at` columns read it as a bare date
            return value.date()
    return value
