"""Reading what explanations need from a cross-validation output folder (:meth:`CVResult.save`).

Explanations are out of fold: a sample is explained by the model of the fold that had it in its TEST part,
``models/<model>-fold<k>.pt`` with ``k`` from ``predictions.csv``, and SHAP's background is drawn from the
TRAINING part of that fold (``folds.csv``, role ``train``), never from its test part.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import pandas as pd

from leukmodel.errors import LeukInputError
from leukmodel.training.bundle import ModelBundle
from leukmodel.training.cv import bundle_file

PREDICTIONS = "predictions.csv"
FOLDS = "folds.csv"
OUT_OF_FOLD_TABLES = (PREDICTIONS, FOLDS)
"""The tables :func:`out_of_fold` reads."""
_ID_COLUMNS = {"sample_id": str, "patient_id": str}


class ArtifactError(LeukInputError):
    """A cross-validation output folder (or MLflow run) that lacks what explanations and the report read."""


@dataclass(frozen=True)
class OutOfFold:
    """Where one sample was tested in cross-validation, by one model.

    Attributes:
        sample_id: the sample.
        model: the name of a deep model of the registry.
        fold: the fold whose test part held the sample.
        label: the true class.
        predicted: the class the fold's model predicted.
        probabilities: class -> out-of-fold probability.
        bundle_path: the fold model, ``models/<model>-fold<fold>.pt``.
        train_ids: the samples the fold's model was trained on (its genomic transform was fitted on them).
    """

    sample_id: str
    model: str
    fold: int
    label: str
    predicted: str
    probabilities: dict[str, float]
    bundle_path: Path
    train_ids: tuple[str, ...]

    def load_bundle(self) -> ModelBundle:
        """The fold model.

        Raises:
            ArtifactError: the folder holds no fold models (cross-validation without ``cv.save_models``).
        """
        if not self.bundle_path.is_file():
            raise ArtifactError(
                "fold model not found",
                file=self.bundle_path,
                expected="the fold models of the run (cross-validation with cv.save_models: true)",
            )
        return ModelBundle.load(self.bundle_path)


def read_table(cv_dir: str | PathLike[str], name: str) -> pd.DataFrame:
    """A table of the folder, sample and patient ids read as strings (an empty file gives an empty frame).

    Raises:
        ArtifactError: the file is missing.
    """
    path = Path(cv_dir) / name
    if not path.is_file():
        raise ArtifactError(
            "file not found", file=path, expected=f"a cross-validation output folder holding {name} (CVResult.save)"
        )
    try:
        return pd.read_csv(path, dtype=_ID_COLUMNS)
    except pd.errors.EmptyDataError:  # a table without rows or columns, e.g. no McNemar test
        return pd.DataFrame()


def out_of_fold(cv_dir: str | PathLike[str], sample_id: str, model: str) -> OutOfFold:
    """The fold, prediction, fold model and training samples of ``sample_id`` under ``model``.

    Raises:
        ArtifactError: the folder lacks ``predictions.csv`` or ``folds.csv``, or has no prediction of ``model``
            for ``sample_id``.
    """
    cv_dir = Path(cv_dir)
    predictions = read_table(cv_dir, PREDICTIONS)
    rows = predictions[(predictions["model"] == model) & (predictions["sample_id"] == sample_id)]
    if rows.empty:
        known = predictions.loc[predictions["model"] == model, "sample_id"]
        if known.empty:
            expected = "one of the models " + ", ".join(sorted(predictions["model"].unique()))
            raise ArtifactError(f"no predictions of model '{model}'", file=cv_dir / PREDICTIONS, expected=expected)
        shown = ", ".join(sorted(known)[:8]) + (", ..." if len(known) > 8 else "")
        raise ArtifactError(
            f"unknown sample id '{sample_id}'",
            file=cv_dir / PREDICTIONS,
            field="sample_id",
            expected=f"a sample of the cross-validation ({len(known)} samples: {shown})",
        )
    row = rows.iloc[0]
    fold = int(row["fold"])
    folds = read_table(cv_dir, FOLDS)
    train = folds[(folds["fold"] == fold) & (folds["role"] == "train")]["sample_id"]
    classes = [c[len("prob_") :] for c in predictions.columns if c.startswith("prob_")]
    return OutOfFold(
        sample_id=sample_id,
        model=model,
        fold=fold,
        label=str(row["y_true"]),
        predicted=str(row["y_pred"]),
        probabilities={c: float(row[f"prob_{c}"]) for c in classes},
        bundle_path=cv_dir / bundle_file(model, fold),
        train_ids=tuple(train),
    )
