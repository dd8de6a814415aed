"""The cross-validation step: every (model, fold) as a Ray Tune trial, recorded in MLflow."""

from __future__ import annotations

from prefect import flow

from flows.common import leukmodel_logs, resolve_config
from flows.featurize import featurize
from flows.ingest import ingest
from leukmodel.app.cross_validation import CVRun
from leukmodel.config import Config
from leukmodel.data import Cohort
from leukmodel.distributed import ray_session
from leukmodel.features import BackboneInfo
from tasks.training import cross_validate_run


@flow(name="cross_validate")
def cross_validate(config: Config | str, cohort: Cohort | None = None, backbone: BackboneInfo | None = None) -> CVRun:
    """Cross-validate the cohort (read and featurized by the ingest and featurize flows unless given: a cached
    featurization costs nothing). An interrupted cross-validation resumes; a finished one is not run again."""
    config = resolve_config(config)
    with leukmodel_logs(), ray_session(config):
        cohort = cohort or ingest(config)
        if backbone is None and cohort.has_images:
            backbone = featurize(config, cohort=cohort).backbone
        return cross_validate_run(cohort, config, backbone.tags() if backbone else {})
