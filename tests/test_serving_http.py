"""End to end over loopback: ``mlflow models serve --env-manager local`` on the registered model, JSON in and out."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from loopback import OPENER, free_port, stop, wait_for_http
from test_serving_model import ServedModel, build_served_model

START_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> ServedModel:
    return build_served_model(tmp_path_factory.getbasetemp() / "served-model")


@pytest.fixture(scope="module")
def server(served, tmp_path_factory):
    """The model served on a free loopback port; yields the base URL and stops the server afterwards."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": served.tracking_uri,
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", served.uri, "--env-manager", "local"]
    command += ["-p", str(port), "-h", "127.0.0.1"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/ping", START_TIMEOUT_S, process, log)
        yield url
    finally:
        stop(process)


def invoke(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/invocations", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with OPENER.open(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.slow
def test_served_model_answers_probabilities_and_attention_per_tile(served, server):
    sample = served.cohort.samples[0]
    profile = served.cohort.expression.loc[sample.expression_id]
    paths = [str(p) for p in sample.images]
    encoded = ["data:image/bmp;base64," + base64.b64encode(p.read_bytes()).decode() for p in sample.images]
    partial = {str(g): float(v) for g, v in list(profile.items())[2:]}
    body = {
        "dataframe_records": [
            {
                "sample_id": sample.sample_id,
                "images": paths,
                "expression": {str(g): float(v) for g, v in profile.items()},
            },
            {"sample_id": "base64-only", "images": encoded},
            {"sample_id": "expression-only", "expression": partial},
        ],
        "params": {"impute_missing": True, "top_tiles": 3},
    }
    status, answer = invoke(server, body)
    assert status == 200, answer
    fused, images_only, expression_only = answer["predictions"]
    for record in (fused, images_only, expression_only):
        assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert record["predicted_class"] in served.cohort.classes
    assert (fused["model"], fused["missing_modality"]) == ("fusion", None)
    assert fused["n_tiles"] == len(fused["tiles"]) > 0
    assert sum(t["attention"] for t in fused["tiles"]) == pytest.approx(1.0, abs=1e-4)
    assert len(fused["top_tiles"]) == 3 and fused["top_tiles"][0]["image"] in paths
    assert {"x", "y", "size", "attention"} <= set(fused["tiles"][0])
    assert (images_only["model"], images_only["missing_modality"]) == ("image", "expression")
    assert images_only["n_tiles"] == fused["n_tiles"]
    assert (expression_only["model"], expression_only["missing_modality"]) == ("genomic", "images")
    assert expression_only["imputed_genes"] == [str(g) for g in profile.index[:2]]


@pytest.mark.slow
def test_served_model_names_bad_input_in_a_400(served, server):
    body = {"dataframe_split": {"columns": ["sample_id", "expression"], "data": [["short", [1.0, 2.0]]]}}
    status, answer = invoke(server, body)
    assert status == 400
    assert "row short, field 'expression': the profile has 2 values, the model takes 50" in answer["message"]
