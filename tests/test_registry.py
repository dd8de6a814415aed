"""The champion rule on a real MLflow registry (SQLite): label-matched runs never take the alias unless allowed."""

from __future__ import annotations

import mlflow
from mlflow.tracking import MlflowClient

from leukmodel.tracking.layout import tag
from leukmodel.tracking.registry import ALLOW_LABEL_MATCHED_TAG, register_model
from leukmodel.tracking.setup import using_tracking_uri


class Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input):
        return [0] * len(model_input)


def test_label_matched_version_takes_the_alias_only_when_allowed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    with using_tracking_uri(uri):
        mlflow.set_experiment("registry")
        with mlflow.start_run() as run:
            model_uri = mlflow.pyfunc.log_model(name="model", python_model=Constant(), pip_requirements=[]).model_uri
    matched = {tag("pairing"): "label_matched", tag("synthetic"): "false"}
    refused = register_model(client, model_uri, "m", "champion", 0.9, matched, run.info.run_id)
    assert not refused.champion and "not evidence" in refused.reason
    version = client.get_model_version("m", refused.version)
    assert version.tags[ALLOW_LABEL_MATCHED_TAG] == "false"
    allowed = register_model(
        client, model_uri, "m", "champion", 0.9, matched, run.info.run_id, allow_label_matched=True
    )
    assert allowed.champion and client.get_model_version_by_alias("m", "champion").version == int(allowed.version)
    assert client.get_model_version("m", allowed.version).tags[ALLOW_LABEL_MATCHED_TAG] == "true"
    paired = register_model(client, model_uri, "m", "champion", 0.95, {tag("pairing"): "paired"}, run.info.run_id)
    assert paired.champion
