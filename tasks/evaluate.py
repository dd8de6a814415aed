"""External evaluation: a registered model on a held-out, labelled cohort."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger

from leukmodel.app.evaluate import ExternalRun, evaluate_registered_model
from leukmodel.config import Config


@task(retries=1, retry_delay_seconds=5)
def evaluate_model(config: Config, model_uri: str) -> ExternalRun:
    """Predict every sample with ``model_uri``; metrics, figures and predictions to a folder and an MLflow run."""
    run = evaluate_registered_model(config, model_uri, progress=False)
    summary = run.result.to_markdown(model_uri)
    create_markdown_artifact(summary, key="external-evaluation", description=f"MLflow run {run.run_id}")
    get_run_logger().info("external evaluation done, MLflow run %s\n%s", run.run_id, summary)
    return run
