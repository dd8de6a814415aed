"""The pipeline flow for real: Prefect (a test server), Ray started in-process, MLflow on SQLite."""

from __future__ import annotations

import asyncio

import pytest
import torch
from mlflow.tracking import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows.pipeline import pipeline


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
    return config, state.result()


def task_states(flow_run_id) -> dict[str, str]:
    async def read() -> dict[str, str]:
        async with get_client() as client:
            runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        return {run.name.rsplit("-", 1)[0]: run.state.name for run in runs}

    return asyncio.run(read())


def test_pipeline_logs_parent_and_child_runs_figures_explanations_report_and_a_champion(first_run):
    config, result = first_run
    client = MlflowClient(result.tracking_uri)
    parent = client.get_run(result.run_id)
    assert parent.info.status == "FINISHED"
    tags = parent.data.tags
    assert tags["leukmodel.synthetic"] == "true"
    assert tags["leukmodel.pairing"] == "paired"
    assert tags["leukmodel.pretrained"] == "false"
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
    assert trials == {(m, str(k)) for m in ("fusion", "image", "genomic") for k in range(config.cv.n_folds)}
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["leukmodel.synthetic"] == "true"
        assert "test.accuracy" in child.data.metrics
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
    config, result = first_run
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
    assert task_states(state.state_details.flow_run_id)["featurize_cohort"] == "Cached"
    assert forward_passes == []
    assert len(client.search_runs([experiment])) == runs_before
