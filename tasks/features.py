"""Feature task: fill the shared feature cache from Ray workers, skipped entirely when nothing changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import TASK_SOURCE, CacheKeyFnPolicy
from prefect.context import TaskRunContext
from prefect.logging import get_run_logger

from leukmodel.config import Config
from leukmodel.distributed import featurize_on_ray, init_ray
from leukmodel.features import FeaturizeReport
from leukmodel.features.featurize import featurization_key
from tasks.retry import transient


def featurize_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """The Prefect cache key: :func:`~leukmodel.features.featurize.featurization_key` of the task's images."""
    return featurization_key(parameters["images"], parameters["config"])


@task(
    cache_policy=TASK_SOURCE + CacheKeyFnPolicy(cache_key_fn=featurize_key),
    persist_result=True,
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=transient,
)
def featurize_images(images: list[Path], config: Config) -> FeaturizeReport:
    """Compute the tile features the cache lacks, in shards on Ray workers (one per GPU, or per CPU slot)."""
    logger = get_run_logger()
    logger.info(init_ray(config))
    report = featurize_on_ray(images, config, progress=False)
    logger.info("featurize: %s", report.summary())
    if not report.backbone.pretrained:
        logger.warning(
            "the backbone has no pretrained weights (%s): runs are tagged pretrained=false", report.backbone.source
        )
    return report
