"""The register step: the final models trained on the whole cohort, logged as one pyfunc and registered."""

from __future__ import annotations

from mlflow.tracking import MlflowClient
from prefect import flow

from flows.common import leukmodel_logs, resolve_config
from flows.cross_validate import cross_validate
from flows.ingest import ingest
from leukmodel.app.cross_validation import CVRun
from leukmodel.config import Config
from leukmodel.data import Cohort
from leukmodel.distributed import ray_session
from leukmodel.features import BackboneInfo
from leukmodel.tracking.registry import Registration, find_registration
from leukmodel.tracking.setup import registered_model_name
from tasks.register import publish_links, register
from tasks.training import train_final_models


@flow(name="register")
def register_model(
    config: Config | str, cohort: Cohort | None = None, cv: CVRun | None = None, backbone: BackboneInfo | None = None
) -> Registration:
    """Register the model of the cross-validation of ``config`` (found or run by the cross_validate flow unless
    given). A run whose version exists returns it; otherwise the final models are trained, the pyfunc is logged
    (or the one an interrupted attempt logged is taken), registered, the alias decided, and the run finished."""
    config = resolve_config(config)
    with leukmodel_logs(), ray_session(config):
        cohort = cohort or ingest(config)
        cv = cv or cross_validate(config, cohort=cohort, backbone=backbone)
        name = registered_model_name(config)
        registration = find_registration(MlflowClient(cv.tracking_uri), name, config.tracking.alias, cv.run_id)
        if registration is None:
            bundles = train_final_models(cohort, config, cv)
            registration = register(bundles, config, cv, backbone)
        publish_links(config, cv, registration)
        return registration
