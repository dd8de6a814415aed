"""``leukmodel evaluate``: a registered model on a labelled cohort, to a folder and to a linked MLflow run."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from test_serving_model import ServedModel, build_served_model

from leukmodel.cli import cli
from leukmodel.tracking.layout import tag

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> ServedModel:
    return build_served_model(tmp_path_factory.getbasetemp() / "served-model")


def test_evaluate_writes_metrics_predictions_figures_and_a_linked_run(served, tmp_path):
    config = served.config.model_copy(deep=True)
    config.name = "held-out"
    config.cv.bootstrap = 50
    config.to_yaml(tmp_path / "config.yaml")
    out = tmp_path / "external"
    args = ["evaluate", "--model", served.uri, "--tracking-uri", served.tracking_uri, "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--no-progress", str(tmp_path / "config.yaml")])
    assert result.exit_code == 0, result.output
    predictions = pd.read_csv(out / "predictions.csv", dtype={"sample_id": str, "patient_id": str})
    assert sorted(predictions["sample_id"]) == sorted(s.sample_id for s in served.cohort.samples)
    assert set(predictions["model"]) == {"fusion"}  # every sample has both modalities
    metrics = pd.read_csv(out / "metrics.csv").set_index("metric")
    assert metrics.loc["accuracy", "ci_low"] <= metrics.loc["accuracy", "value"] <= metrics.loc["accuracy", "ci_high"]
    assert pd.read_csv(out / "confusion.csv")["count"].sum() == len(predictions)
    assert (out / "roc.png").stat().st_size > 0 and (out / "confusion.png").stat().st_size > 0

    client = MlflowClient(served.tracking_uri)
    version = client.get_model_version_by_alias(served.name, "champion")
    run_id = version.tags[tag("external_evaluation.held-out")]
    run = client.get_run(run_id)
    assert run.data.tags[tag("kind")] == "external_evaluation"
    assert run.data.tags[tag("model_version")] == str(version.version)
    assert run.data.metrics["external.accuracy"] == pytest.approx(metrics.loc["accuracy", "value"])
    assert {a.path for a in client.list_artifacts(run_id, "external")} >= {"external/predictions.csv"}
    assert f"MLflow run: {run_id}" in result.output
