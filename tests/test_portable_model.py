"""The logged model is portable: a fresh virtual environment with only the model's requirements.txt installed (not
leukmodel, not this project) loads the registered model from the SQLite registry, predicts, and serves it with
`mlflow models serve`; the leukmodel code it runs is the copy inside the model.

Creating that environment installs torch and the rest from the package index (several GB, minutes): it is built
once per distinct requirements.txt, under ``$LEUKMODEL_TEST_VENVS`` (default ``~/.cache/leukmodel/test-venvs``),
and reused by later runs. Its interpreter never sees this repository: it runs in an empty folder, without
PYTHONPATH.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import mlflow
import pytest
from loopback import OPENER, free_port, stop, wait_for_http
from test_serving_model import ServedModel, build_served_model

from leukmodel.tracking.setup import using_tracking_uri

pytestmark = pytest.mark.slow

LOAD_AND_PREDICT = """
import json, sys
import mlflow
from mlflow.models import Model

model_dir = sys.argv[1]
example = Model.load(model_dir).load_input_example(model_dir)
output = mlflow.pyfunc.load_model(model_dir).predict(example)
print(json.dumps({"leukmodel": sys.modules["leukmodel"].__file__, "classes": [r["predicted_class"] for r in output]}))
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> ServedModel:
    return build_served_model(tmp_path_factory.getbasetemp() / "served-model")


@pytest.fixture(scope="module")
def model_dir(served, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("portable") / "model"
    with using_tracking_uri(served.tracking_uri):
        mlflow.artifacts.download_artifacts(artifact_uri=served.uri, dst_path=str(out))
    return out


@pytest.fixture(scope="module")
def fresh_env(model_dir) -> dict[str, str]:
    """A virtual environment made from the model's requirements.txt alone; its environment variables."""
    requirements = model_dir / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    root = Path(os.environ.get("LEUKMODEL_TEST_VENVS", Path.home() / ".cache" / "leukmodel" / "test-venvs"))
    venv = root / digest
    if not (venv / "complete").is_file():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)]
        done = subprocess.run(pip, capture_output=True, text=True, timeout=3000)
        assert done.returncode == 0, done.stderr[-3000:]
        (venv / "complete").write_text(requirements.read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MLFLOW_TRACKING_URI")}
    return {**env, "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}", "VIRTUAL_ENV": str(venv)}


def test_requirements_install_from_the_index_and_the_model_carries_its_code(model_dir):
    requirements = (model_dir / "requirements.txt").read_text().split()
    names = {line.split("==")[0].lower() for line in requirements}
    assert "leukmodel" not in names, "leukmodel is on no package index: its code travels in the model"
    assert not [line for line in requirements if "+" in line], "local builds (+cpu, +cu128) are on no index"
    assert {"torch", "mlflow", "h5py", "pyyaml", "tqdm", "opencv-python-headless"} <= names
    assert (model_dir / "code" / "leukmodel" / "serving" / "pyfunc.py").is_file()
    assert not list((model_dir / "code").rglob("__pycache__"))


def test_a_fresh_environment_from_requirements_txt_loads_predicts_and_serves(served, model_dir, fresh_env, tmp_path):
    python = str(Path(fresh_env["VIRTUAL_ENV"]) / "bin" / "python")
    probe = subprocess.run([python, "-c", "import leukmodel"], cwd=tmp_path, env=fresh_env, capture_output=True)
    assert probe.returncode != 0, "the fresh environment must not have leukmodel installed"

    script = tmp_path / "load_and_predict.py"
    script.write_text(textwrap.dedent(LOAD_AND_PREDICT))
    done = subprocess.run(
        [python, str(script), str(model_dir)], cwd=tmp_path, env=fresh_env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(answer["leukmodel"]).is_relative_to(model_dir / "code")
    assert answer["classes"][0] in served.cohort.classes

    port = free_port()
    log = tmp_path / "serve.log"
    command = ["mlflow", "models", "serve", "-m", served.uri, "--env-manager", "local", "-p", str(port)]
    with open(log, "w") as out:
        server = subprocess.Popen(
            command,
            cwd=tmp_path,
            env={**fresh_env, "MLFLOW_TRACKING_URI": served.tracking_uri},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", 300, server, log)
        body = (model_dir / "serving_input_example.json").read_bytes()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        with OPENER.open(request, timeout=300) as response:
            predictions = json.loads(response.read())["predictions"]
        assert predictions[0]["predicted_class"] in served.cohort.classes
    finally:
        stop(server)
