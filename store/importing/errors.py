"""The errors an import reports: one per problem, rendered as ``FILE:LINE: COLUMN: value: reason``."""

from __future__ import annotations

from dataclasses import dataclass

_MAX_VALUE_CHARS = 80


@dataclass(frozen=True)
class ImportError_:
    """One problem in a package; ``line`` is the row number a spreadsheet shows (header = 1).

    The trailing underscore keeps the name apart from the builtin ``ImportError``.
    """

    file: str
    line: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.column}: {self.value}: {self.reason}"


class ImportFailed(Exception):
    """The package was not loaded (nothing was written); ``errors`` lists every problem found."""

    def __init__(self, errors: list[ImportError_]) -> None:
        super().__init__(f"{len(errors)} error(s) in the package; nothing was imported")
        self.errors = errors


def show_value(value: object) -> str:
    """A cell value as it goes into an error line: one line, not too long."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "1" if value else "0"
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:
        text = str(value)
    text = text.replace("\r", "").replace("\n", "\\n")
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 1] + "…"
    return text
