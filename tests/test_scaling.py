"""Scaling out: a `ray start --head` cluster whose workers cannot import this worktree (leukmodel travels by
`ray.runtime_env`), Tune storage given as a `file://` URI through which trial results travel as checkpoints, and an
`mlflow server`, on loopback; the driver attaches by `RAY_ADDRESS` and `MLFLOW_TRACKING_URI` from another process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from loopback import free_port, mlflow_server, stop
from mlflow.tracking import MlflowClient

import leukmodel
from leukmodel.data import build_cohort
from leukmodel.features import featurize

RAY = str(Path(sys.executable).parent / "ray")

RUN_CV = """
import sys
import tempfile
import time
import ray
from leukmodel.config import load_config
from leukmodel.data import build_cohort
from leukmodel.distributed import ray_session
from leukmodel.app.cross_validation import tracked_cross_validation

config = load_config(sys.argv[1])


@ray.remote
def where_leukmodel_is():
    import leukmodel

    return leukmodel.__file__


with ray_session(config):
    print("gcs", ray.get_runtime_context().gcs_address)
    print("worker-leukmodel", ray.get(where_leukmodel_is.remote()))
    run, _ = tracked_cross_validation(build_cohort(config), config, {"pretrained": "false"}, verbose=0)
    print("run", run.run_id, run.tracking_uri)
"""


@pytest.fixture
def ray_head(tmp_path):
    """`ray start --head --block` on loopback, without this worktree on PYTHONPATH; stopped by SIGINT to its process
    group (`ray stop` would stop every Ray on the machine; `ray start --block` ends its processes on Ctrl-C in
    about 2 s, and does not on SIGTERM within 40 s)."""
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's socket paths must stay under 107 bytes
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RAY_ADDRESS")}
    log = tmp_path / "ray.log"
    with open(log, "w") as out:
        head = subprocess.Popen(
            [RAY, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
             f"--temp-dir={temp}", "--include-dashboard=false", "--disable-usage-stats"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not _listening(port):
            assert head.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        yield f"127.0.0.1:{port}"
    finally:
        stop(head, how=signal.SIGINT)
        shutil.rmtree(temp, ignore_errors=True)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def mlflow_url(tmp_path):
    with mlflow_server(tmp_path) as url:
        yield url


def test_cross_validation_on_a_ray_cluster_logging_to_an_mlflow_server(tiny, tmp_path, ray_head, mlflow_url):
    package = Path(leukmodel.__file__).parent
    storage = (tmp_path / "tune-storage").as_uri()
    config = tiny(
        output_dir=str(tmp_path / "out"),
        name="cluster-tiny",
        cv={"models": ["image", "genomic"]},
        ray={"storage_path": storage, "runtime_env": {"py_modules": [str(package)]}},
    )
    assert config.ray.address is None and config.tracking.mlflow_uri is None
    assert config.ray.storage_path == storage, "a URI is kept as given, not resolved as a path"
    cohort = build_cohort(config)
    featurize([p for s in cohort.samples for p in s.images], config, progress=False)
    config_path = config.to_yaml(tmp_path / "config.yaml")
    env = {**os.environ, "RAY_ADDRESS": ray_head, "RAY_AUTH_MODE": "token", "MLFLOW_TRACKING_URI": mlflow_url}

    done = subprocess.run(
        [sys.executable, "-c", RUN_CV, str(config_path)],
        env=env,
        cwd=tmp_path,  # Ray adds the driver's working directory to the workers' sys.path: not this worktree
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(
        line.split(" ", 1) for line in done.stdout.splitlines() if line.startswith(("gcs ", "run ", "worker-"))
    )
    assert lines["gcs"].endswith(ray_head.split(":")[1]), "the driver did not attach to the running cluster"
    assert "runtime_resources" in lines["worker-leukmodel"], "the workers run the leukmodel the driver shipped"
    checkpoints = list((tmp_path / "tune-storage").rglob("trial_result.pkl"))
    assert len(checkpoints) == 2 * config.cv.n_folds, "each trial's result is a checkpoint in the storage URI"
    run_id, uri = lines["run"].split()
    assert uri == mlflow_url

    client = MlflowClient(mlflow_url)
    experiment = client.get_experiment_by_name("cluster-tiny")
    children = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{run_id}'")
    assert len(children) == 2 * config.cv.n_folds and all(c.info.status == "FINISHED" for c in children)
    assert "image.accuracy" in client.get_run(run_id).data.metrics
    assert not (tmp_path / "out" / "mlflow.db").exists(), "a local SQLite store was used instead of the server"
