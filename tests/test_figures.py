"""ROC and confusion figures of out-of-fold predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leukmodel.evaluation.figures import confusion_figure, roc_figure

CLASSES = ["ALL", "AML", "CLL"]


@pytest.fixture
def predictions() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    prob = rng.dirichlet([1, 1, 1], 30)
    truth = [CLASSES[i % 3] for i in range(30)]
    return pd.DataFrame(
        {
            "model": "fusion",
            "y_true": truth,
            "y_pred": [CLASSES[i] for i in prob.argmax(1)],
            **{f"prob_{c}": prob[:, i] for i, c in enumerate(CLASSES)},
        }
    )


def test_roc_has_one_curve_per_class_with_its_auc(predictions):
    figure = roc_figure(predictions, CLASSES, "fusion")
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert len(labels) == 3 and all("AUC" in label for label in labels)


def test_confusion_counts_every_sample(predictions):
    figure = confusion_figure(predictions, CLASSES, "fusion")
    counts = [int(t.get_text()) for t in figure.axes[0].texts]
    assert sum(counts) == len(predictions)


def test_unknown_model_is_an_error(predictions):
    with pytest.raises(ValueError, match="no predictions of model 'image'"):
        roc_figure(predictions, CLASSES, "image")
