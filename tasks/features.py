"""Feature task: fill the shared feature cache from Ray workers, skipped entirely when nothing changed."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from prefect import task
from prefect.cache_policies import TASK_SOURCE, CacheKeyFnPolicy
from prefect.context import TaskRunContext
from prefect.logging import get_run_logger

from leukmodel.config import Config
from leukmodel.data import Cohort
from leukmodel.distributed import featurize_on_ray, init_ray
from leukmodel.features import FeaturizeReport
from leukmodel.features.cache import cache_identity


def featurize_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """The images (path, size, modification time), the settings that change features, and the cache folder with
    its identity (a deleted and remade cache folder is another folder)."""
    cohort: Cohort = parameters["cohort"]
    config: Config = parameters["config"]
    digest = hashlib.sha256()
    for path in sorted({p for s in cohort.samples for p in s.images}):
        stat = path.stat()
        digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns};".encode())
    settings = {
        "tiles": config.tiles.model_dump(mode="json"),
        "backbone": config.backbone.model_dump(mode="json"),
        "precision": config.features.precision,
        "store_layer3": config.features.store_layer3,
        "cache_dir": str(config.features.cache_dir),
        "cache_id": cache_identity(config.features.cache_dir),
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


@task(
    cache_policy=TASK_SOURCE + CacheKeyFnPolicy(cache_key_fn=featurize_key),
    persist_result=True,
    retries=1,
    retry_delay_seconds=5,
)
def featurize_cohort(cohort: Cohort, config: Config) -> FeaturizeReport:
    """Compute the tile features the cache lacks, in shards on Ray workers (one per GPU, or per CPU slot)."""
    logger = get_run_logger()
    logger.info(init_ray(config))
    images = sorted({p for s in cohort.samples for p in s.images})
    report = featurize_on_ray(images, config, progress=False)
    logger.info("featurize: %s", report.summary())
    if not report.backbone.pretrained:
        logger.warning(
            "the backbone has no pretrained weights (%s): runs are tagged pretrained=false", report.backbone.source
        )
    return report
