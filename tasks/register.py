"""Logging the fusion model as an MLflow pyfunc and registering it under the champion rule."""

from __future__ import annotations

import mlflow
from mlflow.tracking import MlflowClient
from prefect import task
from prefect.logging import get_run_logger

from leukmodel.config import Config
from leukmodel.distributed.tracked import CVRun
from leukmodel.features import BackboneInfo
from leukmodel.serving import log_model
from leukmodel.tracking.layout import MODEL
from leukmodel.tracking.registry import Registration, register_model
from leukmodel.tracking.results import finish_run
from leukmodel.tracking.setup import registered_model_name, using_tracking_uri
from leukmodel.training import ModelBundle


@task(retries=2, retry_delay_seconds=5)
def register(bundles: dict[str, ModelBundle], config: Config, cv: CVRun, backbone: BackboneInfo | None) -> Registration:
    """Log the pyfunc (fusion + single-modality fallbacks) on the parent run, register it, apply the alias rule.

    ``backbone`` is the backbone that computed the training features; the pyfunc's must have the same weights.
    """
    logger = get_run_logger()
    client = MlflowClient(cv.tracking_uri)
    run = client.get_run(cv.run_id)
    score = float(run.data.metrics["fusion.macro_f1"])
    with using_tracking_uri(cv.tracking_uri), mlflow.start_run(run_id=cv.run_id):
        info = log_model(bundles, config, name=MODEL, backbone_info=backbone)
    tags = {k: v for k, v in run.data.tags.items() if k.startswith("leukmodel.")}
    registration = register_model(
        client,
        info.model_uri,
        registered_model_name(config),
        config.tracking.alias,
        score,
        tags,
        cv.run_id,
        allow_label_matched=config.tracking.allow_label_matched_champion,
    )
    logger.info("registered %s version %s: %s", registration.name, registration.version, registration.reason)
    return registration


@task
def finish(cv: CVRun) -> None:
    """Mark the parent run FINISHED: a later run of the same config has nothing left to do."""
    finish_run(MlflowClient(cv.tracking_uri), cv.run_id)
