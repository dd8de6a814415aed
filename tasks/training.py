"""Cross-validation on Ray Tune with MLflow runs, and the final models trained on the whole cohort."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger

from leukmodel.config import Config
from leukmodel.data import Cohort
from leukmodel.distributed.tracked import CVRun, tracked_cross_validation
from leukmodel.distributed.tracked import train_final_models as train_final_bundles
from leukmodel.training import ModelBundle


@task
def cross_validate(cohort: Cohort, config: Config, backbone_tags: dict[str, str]) -> CVRun:
    """Every (model, fold) as a Ray Tune trial with MLflow runs; resumes an interrupted one, skips a finished one."""
    logger = get_run_logger()
    run, result = tracked_cross_validation(cohort, config, backbone_tags)
    if result is None:
        logger.info("cross-validation already finished: MLflow run %s", run.run_id)
        return run
    create_markdown_artifact(result.to_markdown(), key="cv-summary", description=f"MLflow run {run.run_id}")
    logger.info("cross-validation done, MLflow run %s\n%s", run.run_id, result.summary().to_string(index=False))
    return run


@task
def train_final_models(cohort: Cohort, config: Config, run: CVRun) -> dict[str, ModelBundle]:
    """The fusion model and both baselines trained on the whole cohort, for registration."""
    return train_final_bundles(cohort, config, run)
