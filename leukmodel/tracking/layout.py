"""Where things are in a cross-validation's MLflow run (the parent run) and in its child runs.

Parent run (one per cross-validation), artifacts::

    config.yaml                         the run's Config (relative paths already resolved)
    cohort/pairing.csv                  sample -> patient, label, number of images, expression profile
    cohort/summary.txt                  the `leukmodel validate` summary, incl. what was left out and why
    cv/                                 CVResult.save(): predictions.csv, metrics.csv, confusion.csv, mcnemar.csv,
                                        trials.csv, history.csv, folds.csv, summary.md, run.json
    cv/models/<model>-fold<k>.pt        each (model, fold) ModelBundle (explanations use the fold that tested a sample)
    figures/roc_<model>.png             one-vs-rest ROC curves, out of fold
    figures/confusion_<model>.png       out-of-fold confusion matrix
    final/<model>.pt                    the models trained on the whole cohort for registration
    explanations/<sample_id>/           Grad-CAM, SHAP and attention figures of one sample
    report/report.html                  the self-contained HTML report

The registered pyfunc (images + expression in, probabilities + attention out) is an MLflow 3 *logged model*
named ``model``, linked to the parent run (``models:/<model id>``; the registry's versions point at it).

Tags on the parent and every child run (``leukmodel.`` prefix): kind (cross_validation | trial | prediction), cohort,
pairing, synthetic, pretrained, backbone, backbone_weights, config_fingerprint; child runs also model, fold
and ``mlflow.parentRunId``.
"""

from __future__ import annotations

CONFIG = "config.yaml"
PAIRING = "cohort/pairing.csv"
COHORT_SUMMARY = "cohort/summary.txt"
CV_DIR = "cv"
FIGURES_DIR = "figures"
FINAL_DIR = "final"
MODEL = "model"
EXPLANATIONS_DIR = "explanations"
REPORT = "report/report.html"

TAG_PREFIX = "leukmodel."
KIND_CV = "cross_validation"
KIND_TRIAL = "trial"
KIND_PREDICTION = "prediction"


def tag(name: str) -> str:
    """The full tag key, e.g. ``tag("pairing") == "leukmodel.pairing"``."""
    return TAG_PREFIX + name


def fold_bundle(model: str, fold: int) -> str:
    return f"{CV_DIR}/models/{model}-fold{fold}.pt"


def final_bundle(model: str) -> str:
    return f"{FINAL_DIR}/{model}.pt"
