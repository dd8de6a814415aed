"""Figures of a cross-validation: one-vs-rest ROC curves and the confusion matrix, out of fold."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay, confusion_matrix


def _model_rows(predictions: pd.DataFrame, model: str) -> pd.DataFrame:
    rows = predictions[predictions["model"] == model]
    if rows.empty:
        raise ValueError(f"no predictions of model '{model}'")
    return rows


def roc_figure(predictions: pd.DataFrame, classes: Sequence[str], model: str) -> Figure:
    """One-vs-rest ROC curve per class of ``model``'s out-of-fold predictions, AUC in the legend."""
    rows = _model_rows(predictions, model)
    figure = Figure(figsize=(5, 4.5), layout="constrained")
    axes = figure.add_subplot()
    for name in classes:
        positive = (rows["y_true"] == name).to_numpy()
        if positive.all() or not positive.any():
            continue
        score = rows[f"prob_{name}"].to_numpy()
        RocCurveDisplay.from_predictions(positive, score, name=name, ax=axes)  # the legend gets "(AUC = x)"
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1)
    axes.set(title=f"{model}: one-vs-rest ROC, out of fold", xlabel="false positive rate", ylabel="true positive rate")
    axes.legend(loc="lower right", fontsize="small")
    return figure


def confusion_figure(predictions: pd.DataFrame, classes: Sequence[str], model: str) -> Figure:
    """``model``'s out-of-fold confusion matrix (rows true, columns predicted), counts in the cells."""
    rows = _model_rows(predictions, model)
    labels = list(classes)
    matrix = confusion_matrix(rows["y_true"], rows["y_pred"], labels=labels)
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    figure = Figure(figsize=(4.8, 4.2), layout="constrained")
    axes = figure.add_subplot()
    ConfusionMatrixDisplay(matrix, display_labels=labels).plot(ax=axes, cmap="Blues", colorbar=False)
    axes.set_title(f"{model}: accuracy {accuracy:.2f}, out of fold")
    return figure
