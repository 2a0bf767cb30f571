"""Reading a package (store.importing.source): CSV folders and files, XLSX workbooks, what is not a table."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from store.importing.source import Package, SourceError, Table

KNOWN = ("departments", "projects", "progress")
NOT_UTF8 = 'not UTF-8 text (save the file as "CSV UTF-8")'


def rows(table: Table) -> list[tuple[int, list[object]]]:
    return [(line, list(cells)) for line, cells in table.rows]


def opened(path: Path, known: tuple[str, ...] = KNOWN) -> Package:
    package = Package(path)
    package.open(known)
    return package


# --- CSV --------------------------------------------------------------------------------------


def test_a_csv_folder_gives_each_known_file_as_a_table(tmp_path: Path) -> None:
    (tmp_path / "departments.csv").write_text("code, name_zh ,name_en\nMZ,民政局,\n CL , 残联 ,Federation\n",
                                              encoding="utf-8")
    (tmp_path / "projects.csv").write_text("code\n", encoding="utf-8")
    with opened(tmp_path) as package:
        assert list(package.tables) == ["departments", "projects"]
        departments = package.tables["departments"]
        assert (departments.name, departments.label) == ("departments", "departments.csv")
        assert departments.header == ["code", "name_zh", "name_en"]  # names stripped
        # line numbers as a spreadsheet shows them; cells stripped, empty ones None
        assert rows(departments) == [(2, ["MZ", "民政局", None]), (3, ["CL", "残联", "Federation"])]
        assert rows(package.tables["projects"]) == []
        assert package.stray == [] and package.unreadable == {} and not package.is_workbook


def test_csv_as_excel_writes_it_bom_crlf_and_quoted_newlines(tmp_path: Path) -> None:
    (tmp_path / "progress.csv").write_bytes(
        "project_code,text_zh\r\nP1,\"第一行\r\n第二行\"\r\nP2,\"含,逗号\"\"引号\"\"\"\r\n\r\nP3,   \r\n".encode("utf-8-sig"))
    with opened(tmp_path) as package:
        table = package.tables["progress"]
        assert table.header == ["project_code", "text_zh"]  # the BOM is not part of the first name
        assert rows(table) == [
            (2, ["P1", "第一行\r\n第二行"]),  # a quoted newline stays in its cell and its row
            (3, ["P2", '含,逗号"引号"']),
            (4, []),  # a blank line is a row without cells
            (5, ["P3", None]),
        ]


def test_rows_of_any_width_come_as_written(tmp_path: Path) -> None:
    (tmp_path / "departments.csv").write_text("code,name_zh\nMZ\nCL,残联,extra,\n", encoding="utf-8")
    with opened(tmp_path) as package:
        assert rows(package.tables["departments"]) == [(2, ["MZ"]), (3, ["CL", "残联", "extra", None])]


def test_a_file_that_is_not_utf8_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "departments.csv").write_bytes("code,name_zh\nMZ,民政局\n".encode("gbk"))
    (tmp_path / "projects.csv").write_text("code\nP1\n", encoding="utf-8")
    with opened(tmp_path) as package:
        assert list(package.tables) == ["projects"]
        error = package.unreadable["departments"]
        # a small file is decoded at once: the line is still the one of the first bad byte
        assert (error.label, error.line, error.reason) == ("departments.csv", 2, NOT_UTF8)
        assert str(error) == f"departments.csv:2: {NOT_UTF8}"


def test_a_gbk_header_is_line_1(tmp_path: Path) -> None:
    (tmp_path / "departments.csv").write_bytes("编码,name_zh\n".encode("gbk") + b"MZ,x\n")
    with opened(tmp_path) as package:
        assert package.unreadable["departments"].line == 1


def test_bad_bytes_far_into_a_file_name_their_own_line(tmp_path: Path) -> None:
    good = "".join(f"D{n:05d},部门{n}\n" for n in range(2000))  # well past the first block read of the file
    (tmp_path / "departments.csv").write_bytes(
        ("code,name_zh\n" + good).encode() + "坏,行\n".encode("gbk") + b"D9,ok\n")
    with opened(tmp_path) as package:
        table = package.tables["departments"]
        with pytest.raises(SourceError) as caught:
            rows(table)
    assert (caught.value.label, caught.value.line, caught.value.reason) == ("departments.csv", 2002, NOT_UTF8)


def test_files_that_are_not_tables_are_stray_and_hidden_ones_ignored(tmp_path: Path) -> None:
    for name in ("Projects.csv", "departments.CSV", "notes.txt", "budgets.csv", "~$package.xlsx", ".DS_Store",
                 ".projects.csv", "progress.csv"):
        (tmp_path / name).write_text("code\n", encoding="utf-8")
    (tmp_path / "old").mkdir()
    with opened(tmp_path) as package:
        assert list(package.tables) == ["progress"]
        # sorted by name, as the folder lists them
        assert package.stray == sorted(["Projects.csv", "departments.CSV", "notes.txt", "budgets.csv", "~$package.xlsx",
                                        "old"])


def test_an_empty_file_has_no_header_and_no_rows(tmp_path: Path) -> None:
    (tmp_path / "projects.csv").write_bytes(b"")
    with opened(tmp_path) as package:
        assert (package.tables["projects"].header, rows(package.tables["projects"])) == ([], [])


def test_a_single_csv_file_is_a_package_of_one_table(tmp_path: Path) -> None:
    path = tmp_path / "projects.csv"
    path.write_text("code\nP1\n", encoding="utf-8")
    with opened(path) as package:
        assert list(package.tables) == ["projects"] and rows(package.tables["projects"]) == [(2, ["P1"])]
    other = tmp_path / "things.csv"
    other.write_text("code\n", encoding="utf-8")
    with opened(other) as package:
        assert (package.tables, package.stray) == ({}, ["things.csv"])


def test_a_path_that_is_no_package(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as missing:
        opened(tmp_path / "nothing")
    assert (missing.value.line, missing.value.reason) == (1, "no such file or folder")
    text = tmp_path / "package.txt"
    text.write_text("code\n", encoding="utf-8")
    with pytest.raises(SourceError) as wrong:
        opened(text)
    assert wrong.value.reason == "not a folder of CSV files or an .xlsx workbook"


# --- XLSX -------------------------------------------------------------------------------------


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    book = openpyxl.Workbook()
    assert book.active is not None
    book.remove(book.active)
    for title, content in sheets.items():
        sheet = book.create_sheet(title)
        for row in content:
            sheet.append(row)
    book.save(path)
    return path


def test_a_workbook_gives_each_known_sheet_as_a_table_with_native_cells(tmp_path: Path) -> None:
    path = workbook(tmp_path / "package.xlsx", {
        "projects": [[" code ", None, "amount_cny", "brand", "start_on", "due_at"],
                     [" P1 ", "  ", 350000, True, date(2026, 3, 1), datetime(2026, 3, 1, 9, 30)],
                     ["P2", None, 12.5, False, datetime(2026, 3, 2), None]],
        "Sheet1": [["anything"]],
        "departments": [],
    })
    with opened(path) as package:
        assert package.is_workbook
        assert list(package.tables) == ["projects", "departments"]
        assert package.stray == ["package.xlsx[Sheet1]"]
        projects = package.tables["projects"]
        assert (projects.name, projects.label) == ("projects", "package.xlsx[projects]")
        assert projects.header == ["code", "", "amount_cny", "brand", "start_on", "due_at"]
        assert rows(projects) == [
            (2, ["P1", None, 350000, True, date(2026, 3, 1), datetime(2026, 3, 1, 9, 30)]),
            # a date-time cell at midnight stays a date-time: only a date format makes a date
            (3, ["P2", None, 12.5, False, datetime(2026, 3, 2), None]),
        ]
        assert (package.tables["departments"].header, rows(package.tables["departments"])) == ([], [])


def test_a_date_formatted_cell_is_a_date_and_a_time_formatted_one_a_datetime(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "projects"
    sheet.append(["a", "b", "c", "d"])
    sheet.append([datetime(2026, 3, 1), datetime(2026, 3, 1), datetime(2026, 3, 1), datetime(2026, 3, 1)])
    for cell, fmt in zip(sheet[2], ("yyyy-mm-dd", "yyyy-mm-dd hh:mm", 'yyyy"h"mm"s"dd', "[$-804]yyyy年m月d日"), strict=True):
        cell.number_format = fmt
    book.save(tmp_path / "p.xlsx")
    with opened(tmp_path / "p.xlsx") as package:
        # letters inside quotes or brackets are text, not hours or seconds
        assert rows(package.tables["projects"]) == [
            (2, [date(2026, 3, 1), datetime(2026, 3, 1), date(2026, 3, 1), date(2026, 3, 1)])]


def test_a_damaged_workbook_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "package.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(SourceError) as caught:
        opened(path)
    assert (caught.value.label, caught.value.line) == ("package.xlsx", 1)
    assert caught.value.reason.startswith("not a readable .xlsx workbook (")


def test_an_upper_case_suffix_is_a_workbook_too(tmp_path: Path) -> None:
    path = workbook(tmp_path / "PACKAGE.XLSX", {"projects": [["code"], ["P1"]]})
    with opened(path) as package:
        assert package.is_workbook and rows(package.tables["projects"]) == [(2, ["P1"])]
