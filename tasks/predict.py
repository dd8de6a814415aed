"""Batch prediction with a registered model: a CSV of one row per sample and an MLflow run of the batch."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from leukmodel.app.predict import predict_cohort
from leukmodel.config import Config
from leukmodel.serving.batch import BatchItem
from tasks.links import artifact_key, mlflow_ui_hint, run_url
from tasks.retry import transient


@task(retries=1, retry_delay_seconds=5, retry_condition_fn=transient, cache_policy=NO_CACHE)
def predict_items(config: Config, model_uri: str, items: list[BatchItem], source: str, out_csv: Path) -> str:
    """Predict ``items`` with ``model_uri`` into ``out_csv`` and record the batch as an MLflow run; returns its id."""
    batch = predict_cohort(config, model_uri, items, source, out_csv, progress=False)
    n, ok = len(batch.predictions), len(batch.predictions) - batch.failed
    get_run_logger().info("predicted %d of %d samples of %s into %s", ok, n, source, out_csv)
    url = run_url(batch.tracking_uri, batch.experiment_id, batch.run_id)
    run = f"[{batch.run_id}]({url})" if url else f"`{batch.run_id}` ({mlflow_ui_hint(batch.tracking_uri)})"
    create_markdown_artifact(
        f"{ok} of {n} samples of `{source}` predicted by `{model_uri}`"
        f" ({batch.failed} with bad input, see the `error` column).\n\n- CSV: `{out_csv}`\n- MLflow run: {run}",
        key=artifact_key(config, "predictions"),
        description=f"batch prediction of {source}",
    )
    return batch.run_id
