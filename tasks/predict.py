"""Batch prediction with a registered model: a CSV of one row per sample and an MLflow run of the batch."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from leukmodel.config import Config
from leukmodel.serving import load_predictor
from leukmodel.serving.batch import BatchItem, predict_batch, record_batch
from leukmodel.tracking.setup import ensure_experiment, tracking_uri
from tasks.links import artifact_key, mlflow_ui_hint, run_url
from tasks.retry import transient


@task(retries=1, retry_delay_seconds=5, retry_condition_fn=transient, cache_policy=NO_CACHE)
def predict_items(config: Config, model_uri: str, items: list[BatchItem], source: str, out_csv: Path) -> str:
    """Predict ``items`` with ``model_uri`` into ``out_csv`` and record the batch as an MLflow run; returns its id."""
    logger = get_run_logger()
    uri = tracking_uri(config)
    predictor = load_predictor(model_uri, tracking_uri=uri, device=config.features.device)
    frame = predict_batch(predictor, items, out_csv, progress=False)
    experiment = ensure_experiment(config)
    run_id = record_batch(uri, experiment, model_uri, predictor, frame, out_csv, source)
    failed = int(frame["error"].notna().sum())
    logger.info("predicted %d of %d samples of %s into %s", len(frame) - failed, len(frame), source, out_csv)
    url = run_url(uri, experiment, run_id)
    run = f"[{run_id}]({url})" if url else f"`{run_id}` ({mlflow_ui_hint(uri)})"
    create_markdown_artifact(
        f"{len(frame) - failed} of {len(frame)} samples of `{source}` predicted by `{model_uri}`"
        f" ({failed} with bad input, see the `error` column).\n\n- CSV: `{out_csv}`\n- MLflow run: {run}",
        key=artifact_key(config, "predictions"),
        description=f"batch prediction of {source}",
    )
    return run_id
