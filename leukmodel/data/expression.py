"""Readers for gene-expression tables: CuMiDa CSVs and generic matrices in either orientation."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from leukmodel.config import ExpressionSource
from leukmodel.data.records import ExpressionTable
from leukmodel.data.tables import read_table
from leukmodel.errors import CohortError, ExpressionError
from leukmodel.genomics.transform import looks_linear_scale

CUMIDA_ID, CUMIDA_TYPE = "samples", "type"
ANNOTATION_PREAMBLE = ("!", "^", "#")
"""Lines of GEO's SOFT / .annot files around the platform table."""


def read_expression(source: ExpressionSource) -> ExpressionTable:
    """Read every file of ``source`` and combine them on their shared probes."""
    reader = _read_cumida_file if source.format == "cumida" else _read_matrix_file
    parts = [reader(path, source) for path in source.files]
    table = _combine(parts)
    if source.annotation is not None:
        table.gene_symbols = read_annotation(source)
    return table


def _read_table(path: Path, **kwargs) -> pd.DataFrame:
    return read_table(path, ExpressionError, "expression file", **kwargs)


def check_log_input(table: ExpressionTable, log_transform: str) -> None:
    """A negative value where ``genomic.log_transform`` will apply log2(x+1) is an error naming file, row and
    probe. ``auto`` is judged on all the values (each fold later decides on its training part by the same rule).
    """
    values = table.values.to_numpy()
    logged = log_transform == "always" or (log_transform == "auto" and looks_linear_scale(values)[0])
    negative = np.argwhere(values < 0) if logged else np.empty((0, 2), dtype=int)
    if negative.size:
        i, j = negative[0]
        sample = table.values.index[i]
        file, row = table.origin.get(sample, (None, None))
        raise ExpressionError(
            f"negative value {values[i, j]:.6g} where log2(x+1) will be applied (log_transform: {log_transform}; "
            f"{len(negative)} negative value(s) in all)",
            file=file,
            row=f"{row} (sample '{sample}')",
            field=str(table.values.columns[j]),
            expected="non-negative linear-scale values, or genomic.log_transform: never for log-scale data",
        )


def _read_cumida_file(path: Path, source: ExpressionSource) -> ExpressionTable:
    frame = _read_table(path)
    for column in (CUMIDA_ID, CUMIDA_TYPE):
        if column not in frame.columns:
            raise ExpressionError(
                f"column '{column}' is missing",
                file=path,
                field=column,
                expected="CuMiDa layout: samples, type, then one column per probe",
            )
    ids = _filled(frame[CUMIDA_ID], path, "sample id")
    _check_unique(ids, path)
    values = frame.drop(columns=[CUMIDA_ID, CUMIDA_TYPE])
    values.index = pd.Index(ids, name="sample")
    values = _numeric(values, path)
    labels = pd.Series(_filled(frame[CUMIDA_TYPE], path, "class").to_numpy(), index=values.index)
    origin = {sample: (path, row) for row, sample in enumerate(ids, start=1)}
    return ExpressionTable(values=values, labels=labels, origin=origin)


def _read_matrix_file(path: Path, source: ExpressionSource) -> ExpressionTable:
    frame = _read_table(path)
    ignore = [re.compile(p) for p in source.ignore_columns]
    frame = frame[[c for c in frame.columns if not any(p.search(str(c)) for p in ignore)]]
    if source.orientation == "genes_x_samples":
        gene_column = source.gene_column or frame.columns[0]
        if gene_column not in frame.columns:
            raise ExpressionError(
                f"gene column '{gene_column}' is missing", file=path, field="data.expression.gene_column"
            )
        genes = frame[gene_column].astype(str).str.strip()
        _check_unique(genes, path, what="gene")
        frame = frame.drop(columns=[gene_column]).set_axis(genes, axis=0).T
        origin_rows = {str(sample): column for column, sample in enumerate(frame.index, start=2)}
    else:
        id_column = source.gene_column or frame.columns[0]
        frame = frame.set_index(id_column)
        origin_rows = {str(sample): row for row, sample in enumerate(frame.index, start=1)}
    frame.index = pd.Index([str(i).strip() for i in frame.index], name="sample")
    frame.columns = [str(c).strip() for c in frame.columns]
    _check_unique(pd.Series(frame.index), path)
    values = _numeric(frame, path)
    labels = _read_labels(source, values.index)
    origin = {sample: (path, origin_rows[sample]) for sample in values.index}
    return ExpressionTable(values=values, labels=labels, origin=origin)


def _read_labels(source: ExpressionSource, samples: pd.Index) -> pd.Series:
    path = source.labels_file
    frame = _read_table(path, dtype=str, keep_default_na=False)
    for column in (source.labels_sample_column, source.labels_label_column):
        if column not in frame.columns:
            raise ExpressionError(
                f"column '{column}' is missing",
                file=path,
                field=column,
                expected="the columns named by labels_sample_column and labels_label_column",
            )
    ids = _filled(frame[source.labels_sample_column], path, "sample id")
    _check_unique(ids, path)
    labels = pd.Series(_filled(frame[source.labels_label_column], path, "label").to_numpy(), index=ids.to_numpy())
    missing = [s for s in samples if s not in labels.index]
    if missing:
        raise ExpressionError(
            f"{len(missing)} expression samples have no label, e.g. '{missing[0]}'",
            file=path,
            field=source.labels_sample_column,
            expected="a label for every sample of the expression matrix",
        )
    return labels.loc[list(samples)]


def _filled(column: pd.Series, path: Path, what: str) -> pd.Series:
    """The column as stripped text; an empty (or NaN) cell is an error naming its row."""
    text = column.astype(str).str.strip()
    blank = column.isna().to_numpy() | (text == "").to_numpy()
    if blank.any():
        rows = [int(i) + 1 for i in blank.nonzero()[0]]
        raise ExpressionError(
            f"empty {what} ({len(rows)} row(s) in all: {rows[:10]})",
            file=path,
            row=rows[0],
            field=str(column.name),
            expected=f"a {what} in every row",
        )
    return text


def _check_unique(ids: pd.Series, path: Path, what: str = "sample") -> None:
    duplicated = ids[ids.duplicated(keep=False)]
    if len(duplicated):
        first = duplicated.iloc[0]
        rows = [i + 1 for i, value in enumerate(ids) if value == first]
        raise CohortError(
            f"duplicate {what} id '{first}' in rows {rows}", file=path, row=rows[1], expected=f"unique {what} ids"
        )


def _numeric(values: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Float32 values; the first non-numeric, NaN or infinite cell is a named error. Only columns pandas did not
    read as numbers are converted (a microarray file has tens of thousands of columns)."""
    text = [column for column, dtype in values.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)]
    converted = values
    if text:
        converted = values.copy()
        converted[text] = values[text].apply(pd.to_numeric, errors="coerce")
    bad_text = converted.isna().to_numpy() & values.notna().to_numpy()
    if bad_text.any():
        row, col = np.argwhere(bad_text)[0]
        raise ExpressionError(
            f"value '{values.iat[row, col]}' is not a number",
            file=path,
            row=f"{row + 1} (sample '{values.index[row]}')",
            field=str(values.columns[col]),
            expected="numeric expression values",
        )
    array = converted.to_numpy(dtype=np.float64)
    not_finite = ~np.isfinite(array)
    if not_finite.any():
        row, col = np.argwhere(not_finite)[0]
        raise ExpressionError(
            f"value is {array[row, col]} ({int(not_finite.sum())} NaN/inf cells in all)",
            file=path,
            row=f"{row + 1} (sample '{values.index[row]}')",
            field=str(values.columns[col]),
            expected="finite expression values",
        )
    return pd.DataFrame(array.astype(np.float32), index=values.index, columns=[str(c) for c in values.columns])


def _combine(parts: list[ExpressionTable]) -> ExpressionTable:
    if len(parts) == 1:
        return parts[0]
    origin: dict[str, tuple[Path, int]] = {}
    for part in parts:
        for sample, where in part.origin.items():
            if sample in origin:
                raise CohortError(
                    f"sample '{sample}' also appears in {origin[sample][0]} row {origin[sample][1]}",
                    file=where[0],
                    row=where[1],
                    expected="each sample id in one file only",
                )
            origin[sample] = where
    shared = parts[0].values.columns
    for part in parts[1:]:
        shared = shared.intersection(part.values.columns, sort=False)
    if len(shared) == 0:
        files = sorted({str(where[0]) for where in origin.values()})
        raise ExpressionError(f"the expression files {files} share no probe", expected="the same probe ids")
    dropped = len(set().union(*(set(p.values.columns) for p in parts))) - len(shared)
    values = pd.concat([p.values[shared] for p in parts])
    labels = pd.concat([p.labels for p in parts])
    return ExpressionTable(values=values, labels=labels, origin=origin, dropped_probes=dropped)


def read_annotation(source: ExpressionSource) -> dict[str, str]:
    """Probe id -> gene symbol from a platform table; the first of ``A /// B`` is kept.

    Reads a plain CSV/TSV table (e.g. GEO's GPL570 table) and GEO's platform annotation files (``GPL96.annot``,
    also gzipped): lines starting with ``!``, ``^`` or ``#`` before (and after) the table are skipped. Column names
    are matched case-insensitively when no column has the exact name (``Gene symbol`` in ``.annot`` files,
    ``Gene Symbol`` in full platform tables).
    """
    path = source.annotation
    frame = _read_annotation_table(path)
    columns = [
        _annotation_column(frame, c, path) for c in (source.annotation_probe_column, source.annotation_symbol_column)
    ]
    symbols = frame[columns[1]].str.split("///").str[0].str.strip()
    probes = frame[columns[0]].str.strip()
    return {p: s for p, s in zip(probes, symbols, strict=True) if s}


def _read_annotation_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ExpressionError("annotation file not found", file=path)
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        lines = [line for line in handle if line.strip() and not line.startswith(ANNOTATION_PREAMBLE)]
    if not lines:
        raise ExpressionError("no table found", file=path, expected="a header row of columns, then one row per probe")
    sep = "\t" if "\t" in lines[0] else ","
    try:
        return pd.read_csv(io.StringIO("".join(lines)), sep=sep, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise ExpressionError(f"cannot parse the table: {exc}", file=path, expected="a CSV or TSV table") from None


def _annotation_column(frame: pd.DataFrame, name: str, path: Path) -> str:
    if name in frame.columns:
        return name
    folded = [c for c in frame.columns if str(c).strip().lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    raise ExpressionError(
        f"column '{name}' is missing (columns: {', '.join(map(str, frame.columns[:12]))})",
        file=path,
        field=name,
        expected="annotation_probe_column and annotation_symbol_column to name its columns",
    )
