"""Classification metrics with bootstrap confidence intervals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score


@dataclass
class ClassificationMetrics:
    """Point estimates, bootstrap percentile intervals and the confusion matrix of one set of predictions.

    Metric names: ``accuracy``, ``macro_f1``, ``macro_auc``, ``f1[<class>]`` and ``auc[<class>]`` (one-vs-rest).
    A per-class value is NaN where it is undefined (for AUC: the class, or every other class, is absent).

    Attributes:
        values: metric -> point estimate.
        ci_low, ci_high: metric -> bounds of the bootstrap interval (NaN without bootstrap).
        confusion: rows = true class, columns = predicted class, counts.
        n: number of samples.
        n_bootstrap, ci: how the intervals were made.
    """

    values: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    confusion: pd.DataFrame
    n: int
    n_bootstrap: int
    ci: float

    def table(self) -> pd.DataFrame:
        """Columns ``metric, value, ci_low, ci_high``."""
        return pd.DataFrame(
            {
                "metric": list(self.values),
                "value": list(self.values.values()),
                "ci_low": [self.ci_low[m] for m in self.values],
                "ci_high": [self.ci_high[m] for m in self.values],
            }
        )


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    prob: np.ndarray,
    classes: Sequence[str],
    n_bootstrap: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> ClassificationMetrics:
    """Accuracy, macro and per-class F1, one-vs-rest ROC-AUC, with percentile bootstrap intervals.

    Args:
        y_true: (n,) true class indices into ``classes``.
        prob: (n, C) predicted class probabilities; the prediction is their argmax.
        classes: the class names, in the column order of ``prob``.
        n_bootstrap: resamples (with replacement, of the n samples) for the intervals; 0 for none.
        seed: of the resampling.
        ci: the interval's coverage.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    prob = np.asarray(prob, dtype=np.float64)
    if prob.shape != (len(y_true), len(classes)):
        raise ValueError(f"prob has shape {prob.shape}, expected ({len(y_true)}, {len(classes)})")
    y_pred = prob.argmax(axis=1)
    values = _metrics(y_true, y_pred, prob, classes)
    low = dict.fromkeys(values, float("nan"))
    high = dict(low)
    if n_bootstrap > 0 and len(y_true) > 1:
        rng = np.random.default_rng(seed)
        draws = []
        for _ in range(n_bootstrap):
            i = rng.integers(0, len(y_true), len(y_true))
            draws.append(list(_metrics(y_true[i], y_pred[i], prob[i], classes).values()))
        samples = np.array(draws)
        alpha = (1 - ci) / 2
        for k, name in enumerate(values):
            column = samples[:, k][~np.isnan(samples[:, k])]
            if column.size:
                low[name], high[name] = (float(q) for q in np.quantile(column, [alpha, 1 - alpha]))
    labels = np.arange(len(classes))
    confusion = pd.DataFrame(
        confusion_matrix(y_true, y_pred, labels=labels),
        index=pd.Index(classes, name="true"),
        columns=pd.Index(classes, name="predicted"),
    )
    return ClassificationMetrics(values, low, high, confusion, len(y_true), n_bootstrap, ci)


def _metrics(y_true: np.ndarray, y_pred: np.ndarray, prob: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    labels = np.arange(len(classes))
    present = np.isin(labels, y_true) | np.isin(labels, y_pred)
    f1 = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0.0)
    f1 = np.where(present, f1, np.nan)
    auc = np.array([_binary_auc(y_true == k, prob[:, k]) for k in labels])
    values = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": _nanmean(f1),
        "macro_auc": _nanmean(auc),
    }
    values.update({f"f1[{c}]": float(v) for c, v in zip(classes, f1, strict=True)})
    values.update({f"auc[{c}]": float(v) for c, v in zip(classes, auc, strict=True)})
    return values


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    if positive.all() or not positive.any():
        return float("nan")
    return float(roc_auc_score(positive, score))


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")
