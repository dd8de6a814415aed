"""The champion rule on a real MLflow registry (SQLite): label-matched runs never take the alias unless allowed."""

from __future__ import annotations

import mlflow
from mlflow.tracking import MlflowClient

from leukmodel.tracking.layout import tag
from leukmodel.tracking.registry import ALLOW_LABEL_MATCHED_TAG, register_cv_run
from leukmodel.tracking.setup import using_tracking_uri


class Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input):
        return [0] * len(model_input)


def cv_run(uri: str, experiment: str, macro_f1: float, tags: dict[str, str]) -> str:
    """A parent run as a cross-validation leaves it: the score metric, provenance tags, a logged model, running."""
    with using_tracking_uri(uri), mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_metric("fusion.macro_f1", macro_f1)
        mlflow.set_tags(tags)
        mlflow.pyfunc.log_model(name="model", python_model=Constant(), pip_requirements=[])
    return run.info.run_id


def not_logged_again() -> str:
    raise AssertionError("the run's logged model is registered, not logged again")


def test_label_matched_version_takes_the_alias_only_when_allowed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    # artifacts under tmp_path: an experiment made without a location stores them in ./mlruns, in the checkout
    experiment = client.create_experiment("registry", artifact_location=(tmp_path / "artifacts").as_uri())
    matched = {tag("pairing"): "label_matched", tag("synthetic"): "false"}
    refused = register_cv_run(client, cv_run(uri, experiment, 0.9, matched), "m", "champion", not_logged_again)
    assert not refused.champion and "not evidence" in refused.reason
    assert client.get_model_version("m", refused.version).tags[ALLOW_LABEL_MATCHED_TAG] == "false"
    allowed = register_cv_run(
        client, cv_run(uri, experiment, 0.9, matched), "m", "champion", not_logged_again, allow_label_matched=True
    )
    assert allowed.champion and client.get_model_version_by_alias("m", "champion").version == int(allowed.version)
    assert client.get_model_version("m", allowed.version).tags[ALLOW_LABEL_MATCHED_TAG] == "true"
    paired_run = cv_run(uri, experiment, 0.95, {tag("pairing"): "paired"})
    paired = register_cv_run(client, paired_run, "m", "champion", not_logged_again)
    assert paired.champion
