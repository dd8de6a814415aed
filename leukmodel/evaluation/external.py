"""A registered model evaluated on a held-out, labelled cohort (an external test set).

Every sample of the cohort is predicted by the logged pyfunc's :class:`~leukmodel.serving.Predictor` (the fusion
model where the sample has both modalities, else the single-modality model of the same run). Written to a folder::

    predictions.csv   sample_id, patient_id, model (the one that answered), y_true, y_pred, prob_<class>...
    metrics.csv       metric, value, ci_low, ci_high (bootstrap 95%), n
    confusion.csv     true, predicted, count
    roc.png, confusion.png
    summary.md
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from leukmodel.data.cohort import Cohort
from leukmodel.errors import CohortError
from leukmodel.evaluation.figures import confusion_figure, roc_figure
from leukmodel.evaluation.metrics import ClassificationMetrics, classification_metrics
from leukmodel.evaluation.tables import format_interval, markdown_table
from leukmodel.serving.inputs import SampleInput, read_images
from leukmodel.serving.predictor import Predictor

logger = logging.getLogger(__name__)

EXTERNAL = "external"
"""The ``model`` column's value in the figures (every answering model pooled)."""


@dataclass
class ExternalEvaluation:
    """The predictions and metrics of a model on a labelled cohort, and where they were written."""

    cohort: str
    classes: tuple[str, ...]
    predictions: pd.DataFrame
    metrics: ClassificationMetrics
    out_dir: Path

    def metrics_table(self) -> pd.DataFrame:
        return self.metrics.table().assign(n=self.metrics.n)

    def confusion_table(self) -> pd.DataFrame:
        matrix = self.metrics.confusion
        return pd.DataFrame(
            [{"true": t, "predicted": p, "count": int(matrix.loc[t, p])} for t in self.classes for p in self.classes]
        )

    def to_markdown(self, model_uri: str) -> str:
        table = self.metrics_table()
        rows = [
            {"metric": r.metric, "value": format_interval(r.value, r.ci_low, r.ci_high)} for r in table.itertuples()
        ]
        answered = self.predictions["model"].value_counts().to_dict()
        return (
            f"External evaluation of `{model_uri}` on cohort `{self.cohort}`: {len(self.predictions)} samples "
            f"(answered by {', '.join(f'{m}: {n}' for m, n in answered.items())}); 95% bootstrap intervals.\n\n"
            + markdown_table(pd.DataFrame(rows))
            + "\n"
        )


def evaluate_external(
    predictor: Predictor,
    cohort: Cohort,
    out_dir: str | PathLike[str],
    model_uri: str,
    n_bootstrap: int = 1000,
    seed: int = 0,
    progress: bool = True,
) -> ExternalEvaluation:
    """Predict every sample of ``cohort`` with ``predictor``; write the files of the module docstring to ``out_dir``.

    Raises:
        CohortError: a class of the cohort that the model does not know.
    """
    classes = tuple(predictor.spec.classes)
    unknown = sorted(set(cohort.class_counts()) - set(classes))
    if unknown:
        raise CohortError(
            f"classes {unknown} are not classes of the model ({', '.join(classes)})",
            field="data.classes",
            expected="the model's class names (map the cohort's classes with class_map)",
        )
    genes = cohort.genes if cohort.expression is not None and predictor.spec.genes else []
    reads_images = any(model.uses_images for model in predictor.models.values())
    rows = []
    for sample in tqdm(cohort.samples, desc="predicting", unit="sample", disable=not progress):
        expression = None
        if genes and sample.expression_id is not None:
            values = cohort.expression.loc[sample.expression_id].to_numpy(dtype=np.float64)
            expression = dict(zip(genes, values, strict=True))
        images = read_images([str(p) for p in sample.images]) if reads_images else ()
        prediction = predictor.predict(SampleInput(sample.sample_id, images, expression))
        rows.append(
            {
                "sample_id": sample.sample_id,
                "patient_id": sample.patient_id,
                "model": prediction.model,
                "y_true": sample.label,
                "y_pred": prediction.predicted_class,
                **{f"prob_{c}": float(p) for c, p in zip(classes, prediction.probabilities, strict=True)},
            }
        )
    predictions = pd.DataFrame(rows)
    y = predictions["y_true"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    prob = predictions[[f"prob_{c}" for c in classes]].to_numpy()
    metrics = classification_metrics(y, prob, list(classes), n_bootstrap, seed)
    result = ExternalEvaluation(cohort.name, classes, predictions, metrics, Path(out_dir))
    _write(result, model_uri)
    return result


def _write(result: ExternalEvaluation, model_uri: str) -> None:
    out = result.out_dir
    out.mkdir(parents=True, exist_ok=True)
    result.predictions.to_csv(out / "predictions.csv", index=False)
    result.metrics_table().to_csv(out / "metrics.csv", index=False)
    result.confusion_table().to_csv(out / "confusion.csv", index=False)
    pooled = result.predictions.assign(model=EXTERNAL)
    roc_figure(pooled, result.classes, EXTERNAL).savefig(out / "roc.png", dpi=120)
    confusion_figure(pooled, result.classes, EXTERNAL).savefig(out / "confusion.png", dpi=120)
    (out / "summary.md").write_text(result.to_markdown(model_uri))
