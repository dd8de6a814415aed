"""Logging the fusion model as an MLflow pyfunc and registering it under the champion rule, atomically."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from leukmodel.config import Config
from leukmodel.distributed.tracked import CVRun
from leukmodel.features import BackboneInfo
from leukmodel.serving import register_final_models
from leukmodel.tracking.registry import Registration
from leukmodel.training import ModelBundle
from tasks.retry import transient


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=transient, cache_policy=NO_CACHE)
def register(bundles: dict[str, ModelBundle], config: Config, cv: CVRun, backbone: BackboneInfo | None) -> Registration:
    """Log the pyfunc (fusion + single-modality fallbacks) on the parent run, register it, apply the alias rule, and
    only then mark the parent run FINISHED; a retry finds what the failed attempt logged or registered.

    ``backbone`` is the backbone that computed the training features; the pyfunc's must have the same weights.
    """
    registration = register_final_models(bundles, config, cv.tracking_uri, cv.run_id, backbone)
    get_run_logger().info("registered %s version %s: %s", registration.name, registration.version, registration.reason)
    return registration
