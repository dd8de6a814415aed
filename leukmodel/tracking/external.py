"""An external evaluation recorded in MLflow: a run linked to the evaluated model version, tagged as such."""

from __future__ import annotations

import re
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from leukmodel.config import Config
from leukmodel.evaluation.external import ExternalEvaluation
from leukmodel.tracking.layout import tag
from leukmodel.tracking.results import metric_key
from leukmodel.tracking.setup import ensure_experiment
from leukmodel.tracking.setup import tracking_uri as config_tracking_uri

KIND_EXTERNAL = "external_evaluation"
MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


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
    from leukmodel.data import build_cohort
    from leukmodel.evaluation.external import evaluate_external
    from leukmodel.serving import load_predictor

    uri = tracking_uri or config_tracking_uri(config)
    config = config.model_copy(update={"tracking": config.tracking.model_copy(update={"mlflow_uri": uri})})
    predictor = load_predictor(model_uri, tracking_uri=uri, device=device)
    cohort = build_cohort(config)
    out = Path(out_dir) if out_dir is not None else config.output_dir / f"external-{cohort.name}"
    result = evaluate_external(predictor, cohort, out, model_uri, config.cv.bootstrap, config.seed, progress)
    run_id = log_external_evaluation(MlflowClient(uri), model_uri, result, ensure_experiment(config), cohort.tags())
    return ExternalRun(result, run_id, uri)


def log_external_evaluation(
    client: MlflowClient, model_uri: str, result: ExternalEvaluation, experiment_id: str, cohort_tags: dict[str, str]
) -> str:
    """Log ``result`` as a new run of the experiment ``experiment_id``; return its id.

    The run is tagged ``leukmodel.kind = external_evaluation`` with the model URI, name and version and the
    evaluated cohort's provenance; it holds the metrics (``external.<metric>`` with ``.ci_low`` / ``.ci_high``) and
    the output folder. For a ``models:/`` URI the model version gets the tag
    ``leukmodel.external_evaluation.<cohort>`` = the run id, so each side finds the other.
    """
    name, version = resolve_version(client, model_uri)
    tags = {
        tag("kind"): KIND_EXTERNAL,
        tag("external_evaluation"): "true",
        tag("model_uri"): model_uri,
        tag("cohort"): result.cohort,
        **{tag(k): v for k, v in cohort_tags.items()},
    }
    if name is not None:
        tags |= {tag("model_name"): name, tag("model_version"): version}
    run = client.create_run(experiment_id, tags=tags, run_name=f"external-{result.cohort}")
    run_id = run.info.run_id
    for row in result.metrics_table().itertuples(index=False):
        for suffix, value in (("", row.value), ("ci_low", row.ci_low), ("ci_high", row.ci_high)):
            if pd.notna(value):
                client.log_metric(run_id, metric_key("external", row.metric, suffix), float(value))
    client.log_artifacts(run_id, str(result.out_dir), "external")
    if name is not None:
        client.set_model_version_tag(name, version, tag(f"external_evaluation.{result.cohort}"), run_id)
    client.set_terminated(run_id)
    return run_id


def resolve_version(client: MlflowClient, model_uri: str) -> tuple[str | None, str | None]:
    """``(name, version)`` of a ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` URI; ``(None, None)`` otherwise."""
    match = MODEL_URI.match(model_uri)
    if match is None:
        return None, None
    if match["version"] is not None:
        return match["name"], match["version"]
    try:
        return match["name"], str(client.get_model_version_by_alias(match["name"], match["alias"]).version)
    except MlflowException:
        return match["name"], None
