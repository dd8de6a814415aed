"""McNemar's test between two models' predictions on the same samples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.contingency_tables import mcnemar

EXACT_BELOW = 25
"""Use the exact binomial test when there are fewer discordant pairs than this (the chi-square is poor there)."""


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test of model A against model B.

    Attributes:
        n: samples compared.
        both_correct, a_only, b_only, both_wrong: the 2x2 table (a_only: A right and B wrong).
        statistic: the binomial count (exact) or the continuity-corrected chi-square.
        p_value: two-sided.
        method: ``exact binomial`` or ``chi-square (continuity-corrected)``.
    """

    n: int
    both_correct: int
    a_only: int
    b_only: int
    both_wrong: int
    statistic: float
    p_value: float
    method: str


def mcnemar_test(correct_a: np.ndarray, correct_b: np.ndarray, exact_below: int = EXACT_BELOW) -> McNemarResult:
    """McNemar's test on paired correctness (boolean arrays over the same samples).

    The exact binomial test is used when discordant pairs are fewer than ``exact_below``; with no discordant
    pair at all it gives p = 1 (the chi-square form would give the meaningless p = 0).
    """
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"correct_a has shape {a.shape} and correct_b {b.shape}; they must be the same samples")
    table = np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]])
    discordant = int(table[0, 1] + table[1, 0])
    exact = discordant < exact_below
    result = mcnemar(table, exact=exact, correction=True)
    return McNemarResult(
        n=int(a.size),
        both_correct=int(table[0, 0]),
        a_only=int(table[0, 1]),
        b_only=int(table[1, 0]),
        both_wrong=int(table[1, 1]),
        statistic=float(result.statistic),
        p_value=float(result.pvalue),
        method="exact binomial" if exact else "chi-square (continuity-corrected)",
    )


def mcnemar_table(
    predictions: pd.DataFrame, reference: str | None, pairs: Sequence[tuple[str, str]] = ()
) -> pd.DataFrame:
    """McNemar's test of ``reference`` against each other model, and of each of ``pairs``, on the samples both
    predicted.

    Args:
        predictions: out-of-fold predictions with columns ``model``, ``sample_id``, ``y_true``, ``y_pred``.
        reference: the model compared against all others (``None``: only ``pairs``).
        pairs: more ``(reference, model)`` comparisons (e.g. each deep model against its linear reference); pairs
            with a model that did not run, or already compared, are skipped.

    Returns:
        One row per comparison: ``reference, model, n, reference_accuracy, model_accuracy`` and the fields of
        :class:`McNemarResult` (``a_only`` = reference right and model wrong).
    """
    correct = predictions.assign(correct=predictions["y_true"] == predictions["y_pred"])
    wide = correct.pivot(index="sample_id", columns="model", values="correct")
    run = list(predictions["model"].unique())
    compared = (
        [(reference, m) for m in run if m != reference] if reference is not None and reference in wide.columns else []
    )
    for a, b in pairs:
        if a in wide.columns and b in wide.columns and {a, b} not in [set(p) for p in compared]:
            compared.append((a, b))
    rows = []
    for a, b in compared:
        pair = wide[[a, b]].dropna().astype(bool)
        result = mcnemar_test(pair[a].to_numpy(), pair[b].to_numpy())
        rows.append(
            {
                "reference": a,
                "model": b,
                "reference_accuracy": float(pair[a].mean()),
                "model_accuracy": float(pair[b].mean()),
                **asdict(result),
            }
        )
    return pd.DataFrame(rows)
