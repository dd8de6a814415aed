"""Registration is atomic and idempotent: killed (a real SIGKILL) between logging the model and registering it, or
between registering it and deciding the alias, a re-run ends with one logged model, one version, and the parent
run FINISHED only then. MLflow on SQLite, the real pyfunc of the serving tests' model."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mlflow.entities import LoggedModelStatus
from mlflow.tracking import MlflowClient
from test_serving_model import MODELS, ServedModel, build_served_model

from leukmodel.app.register import register_final_models
from leukmodel.tracking.registry import DECISION_TAG, RUN_TAG
from leukmodel.tracking.setup import registered_model_name

ROOT = Path(__file__).resolve().parents[1]

KILLED = """
import os, signal, sys
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from leukmodel.config import load_config
from leukmodel.app.register import register_final_models
from leukmodel.training import ModelBundle


def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


{patch} = die
root, uri, run_id = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
bundles = {{m: ModelBundle.load(root / "bundles" / f"{{m}}.pt") for m in {models!r}}}
register_final_models(bundles, load_config(root / "config.yaml"), uri, run_id)
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> ServedModel:
    return build_served_model(tmp_path_factory.getbasetemp() / "served-model")


def kill_at(patch: str, served: ServedModel, uri: str, run_id: str, tmp_path: Path) -> None:
    """Run the registration in a subprocess that SIGKILLs itself when ``patch`` (a dotted name) is called."""
    script = tmp_path / "register_killed.py"
    script.write_text(textwrap.dedent(KILLED).format(patch=patch, models=MODELS))
    done = subprocess.run(
        [sys.executable, str(script), str(served.root), uri, run_id],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]


def test_a_kill_between_logging_registering_and_deciding_leaves_one_version_after_a_rerun(served, tmp_path):
    served.config.to_yaml(served.root / "config.yaml")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("registration", artifact_location=(tmp_path / "artifacts").as_uri())
    run_id = client.create_run(experiment, tags={"leukmodel.synthetic": "true"}).info.run_id
    client.log_metric(run_id, "fusion.macro_f1", 0.75)
    name = registered_model_name(served.config)

    kill_at("mlflow.register_model", served, uri, run_id, tmp_path)
    assert client.get_run(run_id).info.status == "RUNNING", "not FINISHED before a version exists"
    logged = client.search_logged_models([experiment])
    assert [(m.name, m.status) for m in logged] == [("model", LoggedModelStatus.READY)]
    assert client.search_model_versions(f"name = '{name}'") == []

    kill_at("MlflowClient.set_registered_model_alias", served, uri, run_id, tmp_path)
    assert client.get_run(run_id).info.status == "RUNNING", "not FINISHED before the alias decision"
    [version] = client.search_model_versions(f"name = '{name}'")
    assert version.tags[RUN_TAG] == run_id and DECISION_TAG not in version.tags
    assert version.source == logged[0].model_uri, "the model logged before the first kill is the one registered"

    bundles = {m: served.bundle(m) for m in MODELS}
    first = register_final_models(bundles, served.config, uri, run_id)
    again = register_final_models(bundles, served.config, uri, run_id)

    assert first == again and first.version == "1" and first.champion
    assert [v.version for v in client.search_model_versions(f"name = '{name}'")] == [1]
    assert client.get_model_version_by_alias(name, "champion").version == 1
    assert client.get_model_version(name, "1").tags[DECISION_TAG] == first.reason
    assert len(client.search_logged_models([experiment])) == 1, "the model is logged once"
    assert client.get_run(run_id).info.status == "FINISHED"
