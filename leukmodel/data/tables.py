"""Reading the user's CSV/TSV tables (expression, manifest, labels): every way a table can be wrong is named."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from leukmodel.errors import LeukInputError

TAB_SUFFIXES = (".tsv", ".txt", ".tab")


def read_table(path: Path, error: type[LeukInputError], what: str = "table", **kwargs) -> pd.DataFrame:
    """A CSV (TSV for .tsv/.txt/.tab) in UTF-8 (a byte-order mark is fine) whose header names each column once.

    ``kwargs`` go to :func:`pandas.read_csv`. ``what`` names the table in messages ("pairing manifest").

    Raises:
        error: the file is missing or a folder, empty, not UTF-8, not parseable, separated by another character
            than expected, or has a header with an empty or repeated column name.
    """
    path = Path(path)
    if not path.is_file():
        problem = "is a folder" if path.is_dir() else f"{what} not found"
        raise error(problem, file=path, expected=f"an existing {what}")
    sep = "\t" if path.suffix.lower() in TAB_SUFFIXES else ","
    expected = f"a {'TSV' if sep == chr(9) else 'CSV'} {what} in UTF-8 with a header row"
    try:
        header = pd.read_csv(
            path, sep=sep, header=None, nrows=1, dtype=str, encoding="utf-8-sig", comment=kwargs.get("comment")
        )
        frame = pd.read_csv(path, sep=sep, encoding="utf-8-sig", **kwargs)
    except UnicodeDecodeError as exc:
        raise error(
            f"is not UTF-8 text (byte {exc.start}: {exc.reason})", file=path, expected=f"{expected} (save it as UTF-8)"
        ) from None
    except pd.errors.EmptyDataError:
        raise error("the file is empty", file=path, expected=expected) from None
    except pd.errors.ParserError as exc:
        raise error(f"cannot parse the table: {str(exc).strip()}", file=path, expected=expected) from None
    names = ["" if pd.isna(name) else str(name).strip() for name in header.iloc[0]]
    if not isinstance(frame.index, pd.RangeIndex):  # pandas took the extra leading fields of longer rows as index
        raise error(
            f"rows have more fields than the header's {len(names)} column names",
            file=path,
            expected="as many fields in every row as in the header",
        )
    for other, word in ((";", "';'"), ("\t", "tabs"), (",", "','")):
        if len(names) == 1 and other != sep and other in names[0]:
            raise error(
                f"the header is one column '{names[0][:60]}': the file looks separated by {word}",
                file=path,
                expected=f"{expected}, separated by {'tabs' if sep == chr(9) else repr(sep)}",
            )
    seen: dict[str, int] = {}
    empty = []
    for column, name in enumerate(names, start=1):
        if not name and column <= frame.shape[1] and _blank(frame.iloc[:, column - 1]):
            empty.append(column - 1)  # a stray separator at the end of each line: an empty column, harmless
            continue
        if not name:
            raise error(
                f"column {column} of the header has no name (a stray separator at the end of a line?)",
                file=path,
                expected="a name for every column",
            )
        if name in seen:
            raise error(
                f"column '{name}' appears twice in the header (columns {seen[name]} and {column})",
                file=path,
                field=name,
                expected="each column name once",
            )
        seen[name] = column
    if len(names) == frame.shape[1]:
        frame.columns = names
    return frame.drop(columns=frame.columns[empty]) if empty else frame


def _blank(column: pd.Series) -> bool:
    return bool((column.isna() | (column.astype(str).str.strip() == "")).all())
