"""Feature task: fill the shared feature cache from Ray workers, skipped entirely when nothing changed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import TASK_SOURCE, CacheKeyFnPolicy
from prefect.context import TaskRunContext
from prefect.logging import get_run_logger

from leukmodel.config import Config
from leukmodel.distributed import featurize_on_ray, init_ray
from leukmodel.features import FeaturizeReport, feature_cache
from leukmodel.features.cache import cache_identity
from leukmodel.features.featurize import stored_levels
from tasks.retry import transient


def featurize_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """The images (path, size, modification time), the feature cache's own key (:func:`feature_cache`: tiling,
    foreground method, cache format, backbone weights hash, precision), the levels stored, and the cache folder
    with its identity (a deleted and remade cache folder is another folder)."""
    images: list[Path] = parameters["images"]
    config: Config = parameters["config"]
    digest = hashlib.sha256()
    for path in sorted(images):
        stat = path.stat()
        digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns};".encode())
    settings = {
        "feature_cache": feature_cache(config).key,
        "store_layer3": "layer3" in stored_levels(config),
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
