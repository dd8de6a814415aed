"""The end-to-end pipeline: cohort -> features -> cross-validation -> explanations -> registered model."""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.tracking import MlflowClient
from prefect import flow
from prefect.logging import get_run_logger

from flows.common import resolve_config
from leukmodel.config import Config
from leukmodel.data import Sample
from leukmodel.distributed import ray_session
from leukmodel.tracking.registry import Registration, find_registration
from leukmodel.tracking.setup import registered_model_name
from tasks.data import generate_synthetic, ingest
from tasks.explain import explain_run
from tasks.features import featurize_cohort
from tasks.register import register
from tasks.training import cross_validate, train_final_models


@dataclass(frozen=True)
class PipelineResult:
    """Where to look: the MLflow parent run, its tracking URI, the version registered from it (if any), and one
    sample of the cohort (to show a prediction command with)."""

    run_id: str
    tracking_uri: str
    registration: Registration | None
    example: Sample


@flow(name="pipeline")
def pipeline(config: Config | str) -> PipelineResult:
    """Run everything on the cohort ``config`` describes (a Config, or the path of its YAML file).

    Work already done is skipped: a configured synthetic cohort is generated once, the feature cache computes only
    missing tiles, an interrupted cross-validation resumes, and a finished one is not run again.
    """
    config = resolve_config(config)
    logger = get_run_logger()
    generate_synthetic(config)
    cohort = ingest(config)
    with ray_session(config) as where:
        logger.info(where)
        backbone = featurize_cohort(cohort, config).backbone if cohort.has_images else None
        cv = cross_validate(cohort, config, backbone.tags() if backbone else {})
        if cv.finished:
            client = MlflowClient(cv.tracking_uri)
            name, alias = registered_model_name(config), config.tracking.alias
            registration = find_registration(client, name, alias, cv.run_id)
            return PipelineResult(cv.run_id, cv.tracking_uri, registration, cohort.samples[0])
        explain_run(cohort, config, cv)
        bundles = train_final_models(cohort, config, cv)
    registration = register(bundles, config, cv, backbone)
    return PipelineResult(cv.run_id, cv.tracking_uri, registration, cohort.samples[0])
