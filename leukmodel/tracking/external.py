"""An external evaluation recorded in MLflow: a run linked to the evaluated model version, tagged as such."""

from __future__ import annotations

import re

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from leukmodel.evaluation.external import ExternalEvaluation
from leukmodel.tracking.artifacts import RunArtifacts
from leukmodel.tracking.layout import tag
from leukmodel.tracking.results import metric_key

KIND_EXTERNAL = "external_evaluation"
MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


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
    RunArtifacts(client, run_id).log_external(result.out_dir)
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
