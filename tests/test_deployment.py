"""prefect.yaml for real: a `prefect server start` and an `mlflow server` on loopback, a process work pool,
`prefect deploy --all`, a worker, `prefect deployment run 'pipeline/synthetic-demo'` on a tiny cohort with layer4
fine-tuning and then `prefect deployment run 'predict/synthetic-demo'`; the flow runs' logs and artifacts are read
back from the Prefect API and the runs from MLflow. One Prefect server and one worker serve both runs."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import numpy as np
import pandas as pd
import pytest
import torch
from loopback import OPENER, free_port, mlflow_server, stop, wait_for_http
from mlflow.tracking import MlflowClient
from prefect.client.orchestration import PrefectClient
from prefect_runs import artifacts, log_lines, subflow_names

from leukmodel.data import build_cohort
from leukmodel.features import load_bags
from leukmodel.serving import SampleInput, load_predictor, read_images
from leukmodel.tracking.setup import registered_model_name
from leukmodel.training import ModelBundle
from leukmodel.training.trainer import layer4_encoder

ROOT = Path(__file__).resolve().parents[1]
PREFECT = [sys.executable, "-m", "prefect"]
STEPS = ("pipeline", "ingest", "featurize", "cross_validate", "explain", "register", "predict", "evaluate")


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


@pytest.fixture
def servers(tmp_path):
    """A real Prefect server and a real MLflow tracking server on free loopback ports; yields the CLI environment
    (PREFECT_API_URL set) and the MLflow URL."""
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    server = start(
        [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path / "prefect.log"
    )
    try:
        with mlflow_server(tmp_path) as mlflow_url:
            wait_for_http(f"http://127.0.0.1:{port}/api/health", 180, server, tmp_path / "prefect.log")
            yield {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}, mlflow_url
    finally:
        stop(server)


def prefect(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run([*PREFECT, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def run_deployment(env: dict[str, str], name: str, *params: str) -> UUID:
    """``prefect deployment run NAME -p ... --watch``; the flow run's id once it completed."""
    args = [a for p in params for a in ("--param", p)]
    output = prefect(env, "deployment", "run", name, *args, "--watch", "--watch-timeout", "1200", timeout=1300)
    assert "Completed" in output, output[-3000:]
    return UUID(re.search(r"UUID:\s*([0-9a-f-]{36})", output).group(1))


def read_api(env: dict[str, str], reader, *args):
    async def read():
        async with PrefectClient(api=env["PREFECT_API_URL"]) as client:
            return await reader(client, *args)

    return asyncio.run(read())


async def deployments(client: PrefectClient) -> dict[str, object]:
    return {f"{flow}/synthetic-demo": await client.read_deployment_by_name(f"{flow}/synthetic-demo") for flow in STEPS}


def assert_layer4_was_fine_tuned_explained_and_served(config, mlflow_url: str, out: Path) -> None:
    """``training.finetune_layer4``: featurize stored layer3 maps, CV and the final model trained layer4 from them
    (streamed from the cache), Grad-CAM ran through the fine-tuned layer4, and the registered pyfunc computes layer3
    maps from the images and predicts with the fine-tuned layer4, as the final model does on cached maps."""
    assert list(out.glob("cv-*/explanations/*/gradcam.png")), "Grad-CAM through the fine-tuned layer4"
    bundle = ModelBundle.load(next(out.glob("cv-*/final/fusion.pt")))
    initial, _ = layer4_encoder(config, pretrained=True)
    trained = {
        k.removeprefix("tile_encoder."): v for k, v in bundle.state_dict.items() if k.startswith("tile_encoder.")
    }
    assert trained.keys() == initial.state_dict().keys()
    assert any(not torch.equal(v, trained[k]) for k, v in initial.state_dict().items()), "layer4 was trained"

    cohort = build_cohort(config)
    sample = cohort.samples[0]
    profile = cohort.expression.loc[sample.expression_id]
    predictor = load_predictor(f"models:/{registered_model_name(config)}@champion", tracking_uri=mlflow_url)
    prediction = predictor.predict(
        SampleInput(sample.sample_id, read_images([str(p) for p in sample.images]), profile.to_dict())
    )
    assert prediction.model == "fusion"
    maps = load_bags(cohort.subset([sample.sample_id]), config, level="layer3")[sample.sample_id].features
    assert prediction.bag.features.shape == maps.shape, "the pyfunc feeds layer3 maps to the fine-tuned layer4"
    with torch.inference_mode():
        output = bundle.build("cpu")(
            torch.from_numpy(maps.read()), torch.tensor(profile.to_numpy(), dtype=torch.float32)
        )
    np.testing.assert_allclose(prediction.probabilities, output.logits.float().softmax(-1).numpy(), atol=1e-3)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two flow runs, each a fresh process on a worker; about 15 min on 2 busy cores
def test_step_deployments_run_on_a_worker_and_tell_the_story_in_the_prefect_ui(servers, tiny, tmp_path):
    env, mlflow_url = servers
    config = tiny(  # layer4 fine-tuning: the deployments run the whole pipeline with it, and serve it
        output_dir=str(tmp_path / "out"),
        name="deployed-tiny",
        features={"cache_dir": str(tmp_path / "cache")},
        training={"finetune_layer4": True, "max_epochs": 2, "patience": 1},
        explain={"shap_samples": 20, "shap_background": 8},
    )
    config_path = config.to_yaml(tmp_path / "config.yaml")

    prefect(env, "work-pool", "create", "leukmodel-local", "--type", "process")
    deployed = prefect(env, "--no-prompt", "deploy", "--all", timeout=900)  # imports each of 16 entrypoints
    for flow in STEPS:
        assert f"{flow}/synthetic-demo" in deployed and f"{flow}/cnmc-cumida" in deployed, flow
    for name, deployment in read_api(env, deployments).items():
        assert deployment.global_concurrency_limit.limit == 1, name
        assert set(deployment.job_variables["env"]) == {"RAY_ADDRESS", "MLFLOW_TRACKING_URI"}, name

    # The worker's MLFLOW_TRACKING_URI reaches the flow runs: the deployments' env placeholders are null. It
    # polls every 2 s, not 10, so a scheduled run does not wait idle.
    worker = start(
        [*PREFECT, "worker", "start", "--pool", "leukmodel-local"],
        {**env, "MLFLOW_TRACKING_URI": mlflow_url, "PREFECT_WORKER_QUERY_SECONDS": "2"},
        tmp_path / "worker.log",
    )
    try:
        pipeline_run = run_deployment(env, "pipeline/synthetic-demo", f"config={config_path}")
        out_csv = tmp_path / "predictions.csv"
        predict_run = run_deployment(env, "predict/synthetic-demo", f"config={config_path}", f"out={out_csv}")
    except AssertionError as failed:
        raise AssertionError(f"{failed}\n{(tmp_path / 'worker.log').read_text()[-5000:]}") from None
    finally:
        stop(worker)

    client = MlflowClient(mlflow_url)
    experiment = client.get_experiment_by_name("deployed-tiny")
    [parent] = client.search_runs([experiment.experiment_id], "tags.`leukmodel.kind` = 'cross_validation'")
    assert parent.info.status == "FINISHED"
    children = client.search_runs([experiment.experiment_id], "tags.`leukmodel.kind` = 'trial'")
    assert len(children) == 5 * config.cv.n_folds and all(c.info.status == "FINISHED" for c in children)
    version = client.get_model_version_by_alias("leukmodel-deployed-tiny", "champion")
    assert version.run_id == parent.info.run_id

    assert read_api(env, subflow_names, pipeline_run) == [
        "cross_validate",
        "explain",
        "featurize",
        "ingest",
        "register",
    ]
    lines = read_api(env, log_lines, pipeline_run)
    loggers = {name for name, _ in lines}
    assert {"leukmodel.distributed.cluster", "leukmodel.distributed.featurize", "leukmodel.distributed.cv"} <= loggers
    assert any("best epoch" in message for name, message in lines if name == "leukmodel.distributed.cv")

    found = read_api(env, artifacts, pipeline_run)
    assert found["deployed-tiny-oof-metrics"][0] == "table" and found["deployed-tiny-mcnemar"][0] == "table"
    mcnemar = json.loads(found["deployed-tiny-mcnemar"][1])
    others = {"image", "genomic", "linear_image", "linear_genomic"}
    assert {(row["reference"], row["model"]) for row in mcnemar} == {("fusion", model) for model in others}
    links = found["deployed-tiny-mlflow"][1]
    assert f"{mlflow_url}/#/experiments/{experiment.experiment_id}/runs/{parent.info.run_id}" in links
    assert f"{mlflow_url}/#/models/leukmodel-deployed-tiny/versions/{version.version}" in links
    report_url = re.search(r"\((http://[^)]+)\)", found["deployed-tiny-report"][1]).group(1)
    with OPENER.open(report_url, timeout=30) as response:
        assert response.status == 200 and b"<html" in response.read(2000).lower()

    assert_layer4_was_fine_tuned_explained_and_served(config, mlflow_url, tmp_path / "out")

    predictions = pd.read_csv(out_csv)
    assert len(predictions) == len(build_cohort(config).samples) and predictions["error"].isna().all()
    [batch] = client.search_runs([experiment.experiment_id], "tags.`leukmodel.kind` = 'prediction'")
    assert batch.data.tags["leukmodel.model_uri"] == "models:/leukmodel-deployed-tiny@champion"
    assert batch.data.tags["leukmodel.synthetic"] == "true" and batch.data.tags["leukmodel.pretrained"] == "false"
    assert 0.0 <= batch.data.metrics["accuracy"] <= 1.0
    for run in (parent, children[0], batch):
        assert {"mlflow.source.git.commit", "mlflow.source.name", "mlflow.user"} <= set(run.data.tags)
    assert "deployed-tiny-predictions" in read_api(env, artifacts, predict_run)
