"""The predict step: a cohort, or a folder of images, through a registered model."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from prefect import flow

from flows.common import leukmodel_logs, resolve_config
from flows.ingest import ingest
from leukmodel.config import Config
from leukmodel.serving.batch import PREDICTIONS, cohort_items, folder_items
from leukmodel.tracking.setup import registered_model_name
from tasks.predict import predict_items


@flow(name="predict")
def predict(config: Config | str, model: str | None = None, images: str | None = None, out: str | None = None) -> Path:
    """Predict every sample of the cohort ``config`` describes, or of the folder ``images`` (each sub-folder one
    sample, each image directly in it one sample), with ``model`` (default ``models:/<registered model>@<alias>``
    of the config). Writes ``out`` (default ``<output_dir>/predictions/<time>-predictions.csv``), one row per
    sample, and records the batch as an MLflow run in the cohort's experiment."""
    config = resolve_config(config)
    model = model or f"models:/{registered_model_name(config)}@{config.tracking.alias}"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    csv = Path(out) if out else config.output_dir.resolve() / "predictions" / f"{stamp}-{PREDICTIONS}"
    with leukmodel_logs():
        if images is not None:
            items, source = folder_items(images), str(Path(images).expanduser().resolve())
        else:
            cohort = ingest(config)
            items, source = cohort_items(cohort), f"cohort {cohort.name}"
        predict_items(config, model, items, source, csv)
    return csv
