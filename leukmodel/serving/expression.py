"""An expression profile aligned to the training genes by name, with optional imputation of missing genes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from leukmodel.data.tables import read_table
from leukmodel.errors import ExpressionError
from leukmodel.genomics.transform import GenomicTransform
from leukmodel.serving.inputs import Expression

MAX_IMPUTED_FRACTION = 0.5
"""Imputation fills at most this fraction of the training genes; a profile missing more is refused."""


@dataclass(frozen=True)
class AlignedExpression:
    """A profile in the model's gene order.

    Attributes:
        values: ``(G,)`` float32, in the order of the model's genes.
        imputed: genes that were absent (or NaN) and were filled with their training mean.
    """

    values: np.ndarray
    imputed: list[str] = field(default_factory=list)


def training_means(transform: GenomicTransform) -> np.ndarray:
    """Per-gene values that the fitted transform maps to the training mean (z-score 0), on the input scale.

    With log2(x + 1) applied that is ``2 ** mean(log2(x + 1)) - 1``, otherwise the plain training mean.
    """
    mean = np.asarray(transform.gene_mean_, dtype=np.float64)
    return (np.exp2(mean) - 1.0) if transform.log_applied_ else mean


def align_expression(
    expression: Expression,
    genes: Sequence[str],
    *,
    means: np.ndarray,
    impute: bool,
    log_applied: bool,
    row: str | None = None,
    cohort: str = "the training cohort",
) -> AlignedExpression:
    """Put ``expression`` in the order of ``genes``: by name for a mapping, by position for a list.

    With ``impute``, absent genes and NaN values are filled with ``means`` and listed in the result, as long as
    at most :data:`MAX_IMPUTED_FRACTION` of the genes are filled; genes the model does not use are ignored.

    Raises:
        ExpressionError: the profile shares no gene with ``genes`` (it comes from another gene set), genes are
            missing (or too many for imputation), a list has the wrong length, or a value is not a number, is
            infinite, is NaN without ``impute``, or is negative where the model applies log2(x + 1). Messages
            name the row and the gene.
    """
    n = len(genes)
    if isinstance(expression, Mapping):
        given = {str(k): v for k, v in expression.items()}
        shared = [g for g in genes if g in given]
        if not shared:
            shown = ", ".join(list(given)[:3])
            raise ExpressionError(
                f"the profile shares none of the model's {n} genes (it has {len(given)}: {shown}, ...); "
                f"the model was trained on {cohort}",
                row=row,
                field="expression",
                expected=f"the genes of {cohort}, e.g. {', '.join(genes[:3])}",
            )
        raw = [given.get(g) for g in genes]
    elif isinstance(expression, Sequence) and not isinstance(expression, str):
        if len(expression) != n:
            raise ExpressionError(
                f"the profile has {len(expression)} values, the model takes {n}",
                row=row,
                field="expression",
                expected=f"{n} values in the model's gene order (serving.json 'genes'), or a {{gene: value}} mapping",
            )
        raw = list(expression)
    else:
        raise ExpressionError(
            f"expression is a {type(expression).__name__}",
            row=row,
            field="expression",
            expected="a {gene: value} mapping or a list of values",
        )
    values = np.empty(n, dtype=np.float64)
    missing: list[int] = []
    for j, value in enumerate(raw):
        number = _number(value, row, genes[j])
        if number is None or math.isnan(number):
            missing.append(j)
        else:
            values[j] = number
    imputed = [genes[j] for j in missing]
    if missing and not impute:
        shown = ", ".join(imputed[:5]) + (", ..." if len(imputed) > 5 else "")
        raise ExpressionError(
            f"{len(missing)} of the model's {n} genes are missing or NaN: {shown}",
            row=row,
            field=imputed[0],
            expected="a finite value for every training gene, or imputation from training means "
            "(--impute-missing, pyfunc param impute_missing)",
        )
    if len(missing) > MAX_IMPUTED_FRACTION * n:
        raise ExpressionError(
            f"{len(missing)} of the model's {n} genes are missing or NaN; imputation fills at most "
            f"{MAX_IMPUTED_FRACTION:.0%}",
            row=row,
            field="expression",
            expected=f"a profile of {cohort}'s genes",
        )
    values[missing] = means[missing]
    if log_applied and (values < 0).any():
        j = int(np.argmax(values < 0))
        raise ExpressionError(
            f"negative value {values[j]:.6g} where the model applies log2(x+1)",
            row=row,
            field=genes[j],
            expected="non-negative values on the scale of the training data",
        )
    return AlignedExpression(values.astype(np.float32), imputed)


def read_expression_csv(
    path: str | PathLike[str], genes: Sequence[str], sample_id: str | None = None
) -> tuple[str, dict[str, float]]:
    """One profile from a CSV (``.tsv``/``.txt``: tab-separated) as ``(sample id, {gene: value})``.

    Either orientation is read: samples as rows (first column the sample ids, one column per gene; other
    columns such as CuMiDa's ``type`` are ignored) or genes as rows (first column the gene ids, one column per
    sample). The orientation is the one whose header or first column holds more of ``genes``. The sample is
    ``sample_id``, or the only one in the file.

    Raises:
        ExpressionError: the file is missing or unreadable, holds none of ``genes`` either way, does not hold
            ``sample_id``, or holds several samples and no ``sample_id`` was given.
    """
    path = Path(path)
    table = read_table(path, ExpressionError, "expression file", dtype={0: str}, low_memory=False)
    if table.shape[1] < 2:
        raise ExpressionError(
            f"the table has {table.shape[1]} column(s)", file=path, expected="an id column and value column(s)"
        )
    wanted = set(genes)
    ids = table.iloc[:, 0].astype(str)
    by_column = sum(str(c) in wanted for c in table.columns[1:])
    by_row = int(ids.isin(wanted).sum())
    if by_column == 0 and by_row == 0:
        raise ExpressionError(
            f"none of the model's {len(genes)} genes is a column or a first-column value "
            f"(columns start {', '.join(str(c) for c in table.columns[:3])})",
            file=path,
            expected=f"the model's genes, e.g. {', '.join(genes[:3])}",
        )
    if by_column >= by_row:
        table = table.set_axis(ids.to_numpy()).iloc[:, 1:]
        table.columns = [str(c) for c in table.columns]
        row = _pick(list(table.index), sample_id, path, "first column")
        profile = table.loc[row]
        profile = profile.iloc[0] if isinstance(profile, pd.DataFrame) else profile
    else:
        repeated = sorted(set(ids[ids.duplicated() & ids.isin(wanted)]))
        if repeated:
            raise ExpressionError(
                f"gene(s) {', '.join(repeated[:5])} appear in more than one row of the first column",
                file=path,
                expected="each gene once",
            )
        values = table.set_axis(ids.to_numpy()).iloc[:, 1:]
        row = _pick([str(c) for c in values.columns], sample_id, path, "header")
        profile = values.set_axis([str(c) for c in values.columns], axis=1)[row]
    found = {str(g): v for g, v in profile.items() if str(g) in wanted}
    return row, found


def _pick(available: list[str], sample_id: str | None, path: Path, where: str) -> str:
    if sample_id is not None:
        if sample_id not in available:
            shown = ", ".join(available[:5]) + (", ..." if len(available) > 5 else "")
            raise ExpressionError(
                f"sample '{sample_id}' is not in the file's {where} ({shown})",
                file=path,
                expected="--sample-id naming one of the file's samples",
            )
        return sample_id
    if len(available) != 1:
        shown = ", ".join(available[:5]) + (", ..." if len(available) > 5 else "")
        raise ExpressionError(
            f"the file holds {len(available)} samples ({shown})",
            file=path,
            expected="--sample-id naming one of them, or a file of one sample",
        )
    return available[0]


def _number(value: object, row: str | None, gene: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ExpressionError(f"value {value!r} is not a number", row=row, field=gene, expected="a number") from None
    if math.isinf(number):
        raise ExpressionError(f"value {number} is infinite", row=row, field=gene, expected="a finite number")
    return number
