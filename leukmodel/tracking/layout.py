"""Where things are in a cross-validation's MLflow run (the parent run) and in its child runs.

Parent run (one per cross-validation), artifacts::

    config.yaml                         the run's Config (relative paths already resolved)
    cohort/pairing.csv                  sample -> patient, label, number of images, expression profile
    cohort/summary.txt                  the `leukmodel validate` summary, incl. what was left out and why
    cv/                                 CVResult.save(): predictions.csv, metrics.csv, confusion.csv, mcnemar.csv,
                                        trials.csv, history.csv, folds.csv, summary.md, run.json
    cv/models/<model>-fold<k>.pt        each (model, fold) ModelBundle (explanations use the fold that tested a sample)
    tables/oof_predictions.json         the out-of-fold predictions as an MLflow table
    tables/mcnemar.json                 every McNemar test as an MLflow table
    figures/roc_<model>.png             one-vs-rest ROC curves, out of fold
    figures/confusion_<model>.png       out-of-fold confusion matrix
    final/<model>.pt                    the models trained on the whole cohort for registration
    explanations/                       explain_cv's folder: index.json, one folder per sample (Grad-CAM, SHAP and
                                        attention figures), the top genes per class
    report/report.html                  the self-contained HTML report

An external evaluation's run holds ``external/`` (the evaluation's folder); a batch prediction's run holds its
``predictions.csv``.

The registered pyfunc (images + expression in, probabilities + attention out) is an MLflow 3 *logged model*
named ``model``, linked to the parent run (``models:/<model id>``; the registry's versions point at it).

Every artifact path is spelt here and passed to MLflow only by :class:`~leukmodel.tracking.artifacts.RunArtifacts`.

Tags on the parent and every child run (``leukmodel.`` prefix): kind (cross_validation | trial | prediction), cohort,
pairing, synthetic, pretrained, backbone, backbone_weights, config_fingerprint; child runs also model, fold
and ``mlflow.parentRunId``.
"""

from __future__ import annotations

import posixpath

CONFIG = "config.yaml"
COHORT_DIR = "cohort"
PAIRING = f"{COHORT_DIR}/pairing.csv"
COHORT_SUMMARY = f"{COHORT_DIR}/summary.txt"
CV_DIR = "cv"
TABLES_DIR = "tables"
FIGURES_DIR = "figures"
FINAL_DIR = "final"
MODEL = "model"
EXPLANATIONS_DIR = "explanations"
REPORT = "report/report.html"
EXTERNAL_DIR = "external"

TAG_PREFIX = "leukmodel."
KIND_CV = "cross_validation"
KIND_TRIAL = "trial"
KIND_PREDICTION = "prediction"


def tag(name: str) -> str:
    """The full tag key, e.g. ``tag("pairing") == "leukmodel.pairing"``."""
    return TAG_PREFIX + name


def cv_file(name: str) -> str:
    """A file of the cross-validation's folder (:meth:`~leukmodel.training.CVResult.save`), in the run:
    ``cv/<name>``."""
    return f"{CV_DIR}/{name}"


def final_bundle(model: str) -> str:
    return f"{FINAL_DIR}/{model}.pt"


def figure(name: str) -> str:
    return f"{FIGURES_DIR}/{name}.png"


def table(name: str) -> str:
    return f"{TABLES_DIR}/{name}.json"


def explanation(folder: str) -> str:
    """One sample's explanation folder: ``explanations/<sample folder>``."""
    return f"{EXPLANATIONS_DIR}/{folder}"


def folder_of(artifact: str) -> str | None:
    """The artifact folder a file is logged into (``None`` for the run's root)."""
    return posixpath.dirname(artifact) or None
