"""prefect.yaml for real: a `prefect server start` on loopback, a process work pool, `prefect deploy --all`, a worker,
and `prefect deployment run 'pipeline/synthetic-demo'` on a tiny cohort, checked in MLflow afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from loopback import free_port, stop, wait_for_http
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
PREFECT = [sys.executable, "-m", "prefect"]


@pytest.fixture
def prefect_server(tmp_path):
    """A real Prefect server on a free loopback port, with its own database; yields the CLI environment."""
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
    }
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below, after the server stops
    server = subprocess.Popen(
        [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={k: v for k, v in env.items() if k != "PREFECT_API_URL"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/health", 180, server, tmp_path / "server.log")
        yield env
    finally:
        stop(server)
        log.close()


def prefect(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run([*PREFECT, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_deployment_run_on_a_process_worker_registers_a_champion(prefect_server, tiny, tmp_path):
    env = prefect_server
    config = tiny(output_dir=str(tmp_path / "out"), name="deployed-tiny")
    config_path = config.to_yaml(tmp_path / "config.yaml")

    prefect(env, "work-pool", "create", "leukmodel-local", "--type", "process")
    deployed = prefect(env, "--no-prompt", "deploy", "--all")
    assert "pipeline/synthetic-demo" in deployed and "pipeline/cnmc-cumida" in deployed

    worker_log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed below, after the worker stops
    worker = subprocess.Popen(
        [*PREFECT, "worker", "start", "--pool", "leukmodel-local"],
        env=env,
        cwd=ROOT,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output = prefect(
            env,
            "deployment",
            "run",
            "pipeline/synthetic-demo",
            "--param",
            f"config={config_path}",
            "--watch",
            "--watch-timeout",
            "1200",
            timeout=1300,
        )
    finally:
        stop(worker)
        worker_log.close()
    assert "Completed" in output, output[-3000:] + (tmp_path / "worker.log").read_text()[-5000:]

    client = MlflowClient(f"sqlite:///{tmp_path / 'out' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("deployed-tiny")
    parents = client.search_runs([experiment.experiment_id], "tags.`leukmodel.kind` = 'cross_validation'")
    assert [p.info.status for p in parents] == ["FINISHED"]
    children = client.search_runs([experiment.experiment_id], "tags.`leukmodel.kind` = 'trial'")
    assert len(children) == 3 * config.cv.n_folds and all(c.info.status == "FINISHED" for c in children)
    version = client.get_model_version_by_alias("leukmodel-deployed-tiny", "champion")
    assert version.run_id == parents[0].info.run_id
