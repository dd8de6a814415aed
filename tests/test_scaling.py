"""Scaling out by environment variables only: a `ray start --head` cluster and an `mlflow server`, on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from loopback import free_port, stop, wait_for_http
from mlflow.tracking import MlflowClient

from leukmodel.data import build_cohort
from leukmodel.features import featurize

RAY = str(Path(sys.executable).parent / "ray")

RUN_CV = """
import sys
import ray
from leukmodel.config import load_config
from leukmodel.data import build_cohort
from leukmodel.distributed import ray_session
from leukmodel.distributed.tracked import tracked_cross_validation

config = load_config(sys.argv[1])
with ray_session(config):
    print("gcs", ray.get_runtime_context().gcs_address)
    run, _ = tracked_cross_validation(build_cohort(config), config, {"pretrained": "false"}, verbose=0)
    print("run", run.run_id, run.tracking_uri)
"""


@pytest.fixture
def ray_head(tmp_path):
    port = free_port()
    started = subprocess.run(
        [RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", 120, server)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


def test_cross_validation_on_a_ray_cluster_logging_to_an_mlflow_server(tiny, tmp_path, ray_head, mlflow_server):
    config = tiny(output_dir=str(tmp_path / "out"), name="cluster-tiny", cv={"models": ["image", "genomic"]})
    assert config.ray.address is None and config.tracking.mlflow_uri is None
    cohort = build_cohort(config)
    featurize([p for s in cohort.samples for p in s.images], config, progress=False)
    config_path = config.to_yaml(tmp_path / "config.yaml")
    env = {**os.environ, "RAY_ADDRESS": ray_head, "RAY_AUTH_MODE": "token", "MLFLOW_TRACKING_URI": mlflow_server}

    done = subprocess.run(
        [sys.executable, "-c", RUN_CV, str(config_path)], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if line.startswith(("gcs ", "run ")))
    assert lines["gcs"].endswith(ray_head.split(":")[1]), "the driver did not attach to the running cluster"
    run_id, uri = lines["run"].split()
    assert uri == mlflow_server

    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("cluster-tiny")
    children = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{run_id}'")
    assert len(children) == 2 * config.cv.n_folds and all(c.info.status == "FINISHED" for c in children)
    assert "image.accuracy" in client.get_run(run_id).data.metrics
    assert not (tmp_path / "out" / "mlflow.db").exists(), "a local SQLite store was used instead of the server"
