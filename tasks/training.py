"""Cross-validation on Ray Tune with MLflow runs, and the final models trained on the whole cohort."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from leukmodel.app.cross_validation import CVRun, tracked_cross_validation
from leukmodel.app.final_models import train_final_models as train_final_bundles
from leukmodel.config import Config
from leukmodel.data import Cohort
from leukmodel.training import ModelBundle
from tasks.links import artifact_key
from tasks.retry import transient

OOF_COLUMNS = ["model", "metric", "value", "ci_low", "ci_high", "n"]


@task(retries=1, retry_delay_seconds=5, retry_condition_fn=transient, cache_policy=NO_CACHE)
def cross_validate_run(cohort: Cohort, config: Config, backbone_tags: dict[str, str]) -> CVRun:
    """Every (model, fold) as a Ray Tune trial with MLflow runs; resumes an interrupted one, skips a finished one.

    The UI gets the summary (markdown) and the out-of-fold metrics and McNemar tests as tables.
    """
    logger = get_run_logger()
    run, result = tracked_cross_validation(cohort, config, backbone_tags)
    if result is None:
        logger.info("cross-validation already finished: MLflow run %s", run.run_id)
        return run
    where = f"MLflow run {run.run_id}"
    create_markdown_artifact(result.to_markdown(), key=artifact_key(config, "cv-summary"), description=where)
    oof = result.metrics[result.metrics["scope"] == "oof"][OOF_COLUMNS]
    create_table_artifact(
        _records(oof), key=artifact_key(config, "oof-metrics"), description=f"out-of-fold metrics, 95% CIs; {where}"
    )
    if not result.mcnemar.empty:
        create_table_artifact(
            _records(result.mcnemar), key=artifact_key(config, "mcnemar"), description=f"McNemar tests; {where}"
        )
    logger.info("cross-validation done, MLflow run %s\n%s", run.run_id, result.summary().to_string(index=False))
    return run


@task(retries=1, retry_delay_seconds=5, retry_condition_fn=transient, cache_policy=NO_CACHE)
def train_final_models(cohort: Cohort, config: Config, run: CVRun) -> dict[str, ModelBundle]:
    """The models the pyfunc serves (the fusion model and both baselines) trained on the whole cohort."""
    return train_final_bundles(cohort, config, run)


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows for a Prefect table artifact: floats rounded to 4 digits, missing values as empty cells."""
    rounded = frame.round(4).astype(object)
    return rounded.where(rounded.notna(), None).to_dict("records")
