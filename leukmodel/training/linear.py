"""Fitting a linear reference: scikit-learn's logistic regression, its coefficients copied into the model's head.

The inputs are what the model computes before its head (:meth:`LinearClassifier.inputs`): the expression through
the fold's genomic transform, or the mean of a bag's tile features standardised with the fold's training tiles.
A logistic regression has nothing to stop early, so it is fitted on all of the fold's non-test samples (training
and validation), as the deep models are when ``training.refit`` retrains them on both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from leukmodel.models.linear import LinearClassifier

ABSENT_LOGIT = -30.0
"""The bias of a class with no training sample: its probability is negligible, as the regression never saw it."""


def fit_linear(model: LinearClassifier, items: Sequence, c: float, device: torch.device) -> list[dict[str, float]]:
    """Fit ``model``'s head as an L2-regularised logistic regression (inverse strength ``c``) on ``items``.

    Returns a one-record history (``train_loss``: the log loss on ``items``) in the trainer's format.
    """
    model.eval()
    with torch.inference_mode():
        x = torch.stack([model.inputs(_to(item.tiles(), device), _to(item.expression, device)) for item in items])
    x = x.float().cpu().numpy().astype(np.float64)
    y = np.array([item.label for item in items])
    regression = LogisticRegression(C=c, max_iter=5000).fit(x, y)
    weight = np.zeros((model.n_classes, x.shape[1]))
    bias = np.full(model.n_classes, ABSENT_LOGIT)
    if len(regression.classes_) == 2:  # one coefficient row: P(second class) = sigmoid(w x + b)
        first, second = regression.classes_
        weight[second], bias[first], bias[second] = regression.coef_[0], 0.0, regression.intercept_[0]
    else:
        weight[regression.classes_] = regression.coef_
        bias[regression.classes_] = regression.intercept_
    with torch.no_grad():
        model.head.weight.copy_(torch.from_numpy(weight))
        model.head.bias.copy_(torch.from_numpy(bias))
    loss = log_loss(y, regression.predict_proba(x), labels=regression.classes_)
    nan = float("nan")
    return [{"epoch": 0.0, "train_loss": float(loss), "val_loss": nan, "val_auc": nan, "val_accuracy": nan}]


def _to(tensor: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if tensor is None else tensor.to(device).float()
