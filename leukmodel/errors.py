"""Named input errors.

Every error a user can cause by their data or configuration is a :class:`LeukInputError`. Its message
names where the problem is (file, row, field) and what was expected, so that a researcher can fix the
input without reading a traceback.
"""

from __future__ import annotations

from os import PathLike


class LeukInputError(ValueError):
    """Bad input: a file, row or field that is not what leukmodel expects.

    Args:
        problem: what is wrong, in plain words.
        file: the file (or folder) in which the problem is.
        row: the row (1-based data row of a table) or record id.
        field: the column, key or config field.
        expected: what would have been accepted.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | PathLike[str] | None = None,
        row: int | str | None = None,
        field: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = None if file is None else str(file)
        self.row = row
        self.field = field
        self.expected = expected
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        text = f"{', '.join(where)}: {self.problem}" if where else self.problem
        if self.expected:
            text += f" (expected {self.expected})"
        return text


class ConfigError(LeukInputError):
    """A configuration file or value that is not valid."""


class CohortError(LeukInputError):
    """A cohort that cannot be assembled: duplicates, label conflicts, missing classes, too few samples."""


class ImageError(LeukInputError):
    """An image file that cannot be used: unreadable, truncated, wrong channels or depth, too small, blank."""


class ExpressionError(LeukInputError):
    """An expression table that cannot be used: wrong layout, non-numeric, NaN/inf, missing genes."""
