"""Evaluate: a registered model on a held-out, labelled cohort, recorded in a folder and an MLflow run linked to
the model version."""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from mlflow.tracking import MlflowClient

from leukmodel.config import Config
from leukmodel.data import build_cohort
from leukmodel.evaluation.external import ExternalEvaluation, evaluate_external
from leukmodel.serving import load_predictor
from leukmodel.tracking.external import log_external_evaluation
from leukmodel.tracking.setup import ensure_experiment
from leukmodel.tracking.setup import tracking_uri as config_tracking_uri


@dataclass(frozen=True)
class ExternalRun:
    """An external evaluation: its result (and folder), the MLflow run and the tracking URI."""

    result: ExternalEvaluation
    run_id: str
    tracking_uri: str


def evaluate_registered_model(
    config: Config,
    model_uri: str,
    out_dir: str | PathLike[str] | None = None,
    tracking_uri: str | None = None,
    device: str = "auto",
    progress: bool = True,
) -> ExternalRun:
    """Predict every sample of ``config``'s labelled cohort with ``model_uri`` and record it (folder and MLflow).

    ``tracking_uri`` (default: the config's, see :func:`~leukmodel.tracking.setup.tracking_uri`) holds the model
    and receives the run, in the cohort's experiment; ``out_dir`` defaults to ``<output_dir>/external-<name>``.
    """
    uri = tracking_uri or config_tracking_uri(config)
    config = config.model_copy(update={"tracking": config.tracking.model_copy(update={"mlflow_uri": uri})})
    predictor = load_predictor(model_uri, tracking_uri=uri, device=device)
    cohort = build_cohort(config)
    out = Path(out_dir) if out_dir is not None else config.output_dir / f"external-{cohort.name}"
    result = evaluate_external(predictor, cohort, out, model_uri, config.cv.bootstrap, config.seed, progress)
    run_id = log_external_evaluation(MlflowClient(uri), model_uri, result, ensure_experiment(config), cohort.tags())
    return ExternalRun(result, run_id, uri)
