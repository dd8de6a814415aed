"""The end-to-end pipeline: the step flows (ingest, featurize, cross_validate, explain, register) as subflows."""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.tracking import MlflowClient
from prefect import flow

from flows.common import leukmodel_logs, resolve_config
from flows.cross_validate import cross_validate
from flows.explain import explain
from flows.featurize import featurize
from flows.ingest import ingest
from flows.register import register_model
from leukmodel.config import Config
from leukmodel.data import Sample
from leukmodel.distributed import ray_session
from leukmodel.tracking.registry import Registration, find_registration
from leukmodel.tracking.setup import registered_model_name
from tasks.register import publish_links


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
    """Run every step on the cohort ``config`` describes (a Config, or the path of its YAML file).

    Work already done is skipped: a configured synthetic cohort is generated once, the feature cache computes only
    missing tiles, an interrupted cross-validation resumes, and a finished one (its run is finished only once its
    model is registered) is not run again.
    """
    config = resolve_config(config)
    with leukmodel_logs(), ray_session(config):
        cohort = ingest(config)
        backbone = featurize(config, cohort=cohort).backbone if cohort.has_images else None
        cv = cross_validate(config, cohort=cohort, backbone=backbone)
        if cv.finished:
            client = MlflowClient(cv.tracking_uri)
            name, alias = registered_model_name(config), config.tracking.alias
            registration = find_registration(client, name, alias, cv.run_id)
            publish_links(config, cv, registration)
        else:
            explain(config, cohort=cohort, cv=cv)
            registration = register_model(config, cohort=cohort, cv=cv, backbone=backbone)
    return PipelineResult(cv.run_id, cv.tracking_uri, registration, cohort.samples[0])
