"""Register: a cross-validation's final models logged as the leukmodel pyfunc and registered, atomically."""

from __future__ import annotations

from collections.abc import Mapping

from mlflow.tracking import MlflowClient

from leukmodel.config import Config
from leukmodel.features.backbone import BackboneInfo
from leukmodel.serving.log import log_model
from leukmodel.tracking.layout import MODEL
from leukmodel.tracking.registry import Registration, register_cv_run
from leukmodel.tracking.setup import registered_model_name, resumed_run
from leukmodel.training.bundle import ModelBundle


def register_final_models(
    bundles: Mapping[str, ModelBundle],
    config: Config,
    tracking_uri: str,
    run_id: str,
    backbone: BackboneInfo | None = None,
) -> Registration:
    """Log ``bundles`` as the pyfunc ``model`` of the parent run ``run_id``, register it under the config's model
    name and alias, and mark the run FINISHED (:func:`~leukmodel.tracking.registry.register_cv_run`: a retry or a
    re-run after a kill logs and registers nothing twice).

    ``backbone`` is the backbone that computed the training features; the pyfunc's must have the same weights.
    """

    def log() -> str:
        with resumed_run(tracking_uri, run_id):
            return log_model(bundles, config, name=MODEL, backbone_info=backbone).model_uri

    client = MlflowClient(tracking_uri)
    return register_cv_run(
        client,
        run_id,
        registered_model_name(config),
        config.tracking.alias,
        log,
        allow_label_matched=config.tracking.allow_label_matched_champion,
    )
