"""The pipeline flow for real: Prefect (a test server), Ray started in-process, MLflow on SQLite."""

from __future__ import annotations

import asyncio
import json

import pytest
import torch
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from prefect.client.orchestration import get_client
from prefect_runs import artifacts, subflow_names, task_runs, task_states

from flows.ingest import ingest
from flows.pipeline import pipeline
from leukmodel.cli.pipeline import run


@pytest.fixture(scope="session")
def prefect_api():
    """One Prefect test server for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def first_run(tiny, tmp_path_factory, prefect_api):
    config = tiny(output_dir=str(tmp_path_factory.mktemp("pipeline")))
    state = pipeline(config, return_state=True)
    assert state.is_completed(), state.message
    return config, state.result(), state.state_details.flow_run_id


def read_api(reader, flow_run_id):
    """``reader(client, flow_run_id)`` (one of tests/prefect_runs.py) against the session's test server."""

    async def read():
        async with get_client() as client:
            return await reader(client, flow_run_id)

    return asyncio.run(read())


def test_pipeline_logs_parent_and_child_runs_figures_explanations_report_and_a_champion(first_run):
    config, result, _ = first_run
    client = MlflowClient(result.tracking_uri)
    parent = client.get_run(result.run_id)
    assert parent.info.status == "FINISHED"
    tags = parent.data.tags
    assert tags["leukmodel.synthetic"] == "true"
    assert tags["leukmodel.pairing"] == "paired"
    assert tags["leukmodel.pretrained"] == "false"
    for key in ("mlflow.source.git.commit", "mlflow.source.name", "mlflow.user"):
        assert tags[key], key
    assert "Synthetic data" in tags["mlflow.note.content"] and "No pretrained weights" in tags["mlflow.note.content"]
    metrics = parent.data.metrics
    for model in ("fusion", "image", "genomic"):
        assert 0.0 <= metrics[f"{model}.accuracy"] <= 1.0
        assert (
            metrics[f"{model}.accuracy.ci_low"] <= metrics[f"{model}.accuracy"] <= metrics[f"{model}.accuracy.ci_high"]
        )
    assert "mcnemar_p.fusion_vs_image" in metrics and "mcnemar_p.fusion_vs_genomic" in metrics

    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"config.yaml", "cohort", "cv", "figures", "explanations", "report", "final", "tables"} <= artifacts
    figures = {a.path for a in client.list_artifacts(result.run_id, "figures")}
    assert {
        f"figures/{kind}_{m}.png" for kind in ("roc", "confusion") for m in ("fusion", "image", "genomic")
    } <= figures
    assert [a.path for a in client.list_artifacts(result.run_id, "report")] == ["report/report.html"]

    children = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{result.run_id}'")
    trials = {(r.data.tags["leukmodel.model"], r.data.tags["leukmodel.fold"]) for r in children}
    models = ("fusion", "image", "genomic", "linear_image", "linear_genomic")
    assert trials == {(m, str(k)) for m in models for k in range(config.cv.n_folds)}
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["leukmodel.synthetic"] == "true"
        assert child.data.tags["mlflow.source.git.commit"] == tags["mlflow.source.git.commit"]
        assert "test.accuracy" in child.data.metrics
        if child.data.tags["leukmodel.model"].startswith("linear_"):
            continue  # fitted once by scikit-learn: no epochs
        history = client.get_metric_history(child.info.run_id, "val_auc")
        assert len(history) >= 1 and [m.step for m in history] == sorted(m.step for m in history)

    registration = result.registration
    assert registration.champion and registration.alias == "champion"
    version = client.get_model_version_by_alias(registration.name, "champion")
    assert str(version.version) == registration.version
    assert version.run_id == result.run_id
    assert [m.name for m in client.search_logged_models([parent.info.experiment_id])] == ["model"]
    assert version.tags["leukmodel.synthetic"] == "true"
    assert float(version.tags["leukmodel.cv_macro_f1"]) == pytest.approx(metrics["fusion.macro_f1"], abs=1e-6)


def test_rerunning_a_finished_pipeline_does_no_work(first_run, monkeypatch):
    config, result, _ = first_run
    client = MlflowClient(result.tracking_uri)
    experiment = client.get_run(result.run_id).info.experiment_id
    runs_before = len(client.search_runs([experiment]))
    forward_passes = []  # every convolution in this process (the backbone's, in Grad-CAM or the pyfunc)
    original = torch.nn.Conv2d.forward
    monkeypatch.setattr(torch.nn.Conv2d, "forward", lambda self, x: forward_passes.append(1) or original(self, x))

    state = pipeline(config, return_state=True)
    again = state.result()

    assert again.run_id == result.run_id
    assert again.registration == result.registration, "the rerun reports the version registered the first time"
    versions = client.search_model_versions(f"name='{result.registration.name}'")
    assert len(versions) == 1, "nothing registered twice"
    assert read_api(task_states, state.state_details.flow_run_id)["featurize_images"] == "Cached"
    assert forward_passes == []
    assert len(client.search_runs([experiment])) == runs_before


def test_leukmodel_run_runs_the_pipeline_flow_and_says_where_to_look(first_run, tmp_path):
    """``leukmodel run CONFIG`` is the pipeline flow plus what to open: here on the finished run, which it finds
    done (layer4 fine-tuning through the whole pipeline is tests/test_deployment.py's)."""
    config, result, _ = first_run
    outcome = CliRunner().invoke(run, [str(config.to_yaml(tmp_path / "config.yaml"))])
    assert outcome.exit_code == 0, outcome.output
    registration = result.registration
    assert f"registered model: {registration.name} version {registration.version}" in outcome.output
    assert f"cross-validation run {result.run_id}" in outcome.output
    assert "leukmodel predict" in outcome.output


def test_each_step_is_a_subflow_and_the_ui_gets_tables_and_mlflow_links(first_run):
    config, result, flow_run_id = first_run
    assert read_api(subflow_names, flow_run_id) == ["cross_validate", "explain", "featurize", "ingest", "register"]
    found = read_api(artifacts, flow_run_id)
    name = config.name.lower()
    assert found[f"{name}-oof-metrics"][0] == "table" and found[f"{name}-mcnemar"][0] == "table"
    oof = json.loads(found[f"{name}-oof-metrics"][1])
    assert {(row["model"], row["metric"]) for row in oof} >= {(m, "macro_f1") for m in ("fusion", "image", "genomic")}
    kind, links = found[f"{name}-mlflow"]
    assert kind == "markdown" and result.run_id in links and f"version {result.registration.version}" in links
    assert f"mlflow ui --backend-store-uri {result.tracking_uri}" in links, "a database URI: the command to browse it"
    report = found[f"{name}-report"][1]
    assert "file://" not in report and "report/report.html" in report


def test_bad_input_fails_at_once_and_is_not_retried(tiny, tmp_path, prefect_api):
    config = tiny(output_dir=str(tmp_path / "out"))
    config.data.images.root = tmp_path / "no-such-folder"
    state = ingest(config, return_state=True)
    assert state.is_failed()
    read = read_api(task_runs, state.state_details.flow_run_id)["read_cohort"]
    assert read.state.name == "Failed" and read.run_count == 1, "a CohortError/ConfigError is not retried"
