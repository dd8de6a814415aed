"""Logging the fusion model as an MLflow pyfunc and registering it under the champion rule, atomically."""

from __future__ import annotations

from mlflow.tracking import MlflowClient
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from leukmodel.app.cross_validation import CVRun
from leukmodel.app.register import register_final_models
from leukmodel.config import Config
from leukmodel.features import BackboneInfo
from leukmodel.tracking.registry import Registration
from leukmodel.training import ModelBundle
from tasks.links import artifact_key, mlflow_ui_hint, model_version_url, run_url
from tasks.retry import transient


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=transient, cache_policy=NO_CACHE)
def register(bundles: dict[str, ModelBundle], config: Config, cv: CVRun, backbone: BackboneInfo | None) -> Registration:
    """Log the pyfunc (fusion + single-modality fallbacks) on the parent run, register it, apply the alias rule, and
    only then mark the parent run FINISHED; a retry finds what the failed attempt logged or registered.

    ``backbone`` is the backbone that computed the training features; the pyfunc's must have the same weights.
    """
    registration = register_final_models(bundles, config, cv.tracking_uri, cv.run_id, backbone)
    get_run_logger().info("registered %s version %s: %s", registration.name, registration.version, registration.reason)
    return registration


@task(cache_policy=NO_CACHE)
def publish_links(config: Config, cv: CVRun, registration: Registration | None) -> str:
    """A markdown artifact linking the MLflow run and the registered version (MLflow UI pages when tracking is
    HTTP; the URIs and the command that serves the UI for a database)."""
    uri = cv.tracking_uri
    experiment = MlflowClient(uri).get_run(cv.run_id).info.experiment_id
    lines = [f"MLflow tracking: `{uri}`", ""]
    run = run_url(uri, experiment, cv.run_id)
    lines.append(f"- run: [{cv.run_id}]({run})" if run else f"- run: `{cv.run_id}` (experiment {experiment})")
    if registration is not None:
        version = model_version_url(uri, registration.name, registration.version)
        label = f"{registration.name} version {registration.version}"
        lines.append(f"- model: [{label}]({version})" if version else f"- model: `{registration.uri}` ({label})")
        champion = "is" if registration.champion else "is not"
        lines.append(f"- it {champion} `{registration.alias}`: {registration.reason}")
    if run is None:
        lines += ["", f"To browse: {mlflow_ui_hint(uri)}."]
    text = "\n".join(lines)
    create_markdown_artifact(text, key=artifact_key(config, "mlflow"), description=f"MLflow run {cv.run_id}")
    return text
