"""The final models: the served models of a cross-validation trained on the whole cohort, for registration."""

from __future__ import annotations

import logging

from mlflow.tracking import MlflowClient

from leukmodel.app.cross_validation import CVRun
from leukmodel.app.samples import usable_samples
from leukmodel.config import Config
from leukmodel.data.cohort import Cohort
from leukmodel.models.registry import served_models
from leukmodel.tracking.artifacts import RunArtifacts
from leukmodel.tracking.layout import final_bundle
from leukmodel.training import ModelBundle, train_final
from leukmodel.training.plan import resolve_models

logger = logging.getLogger(__name__)


def train_final_models(cohort: Cohort, config: Config, run: CVRun) -> dict[str, ModelBundle]:
    """The models the pyfunc serves (:func:`~leukmodel.models.registry.served_models`: for each combination of
    modalities, the first deep model cross-validated) trained on the whole cohort, saved and logged under
    ``final/`` of the run. The linear references are cross-validated only."""
    cohort, bags = usable_samples(cohort, config)
    artifacts = RunArtifacts(MlflowClient(run.tracking_uri), run.run_id)
    bundles = {}
    config = resolve_models(config, cohort)
    for model in served_models(config.cv.models):
        bundle = train_final(model, cohort, bags, config)
        path = bundle.save(run.folder / final_bundle(model))
        artifacts.log_final_bundle(path, model)
        logger.info("final %s model: best epoch %d", model, bundle.best_epoch)
        bundles[model] = bundle
    return bundles
