"""The featurize step: tile features of a cohort, or of a new batch of images, into the shared feature cache."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.common import leukmodel_logs, resolve_config
from flows.ingest import ingest
from leukmodel.config import Config
from leukmodel.data import Cohort
from leukmodel.distributed import ray_session
from leukmodel.features import FeaturizeReport
from leukmodel.serving.batch import folder_items
from tasks.features import featurize_images


@flow(name="featurize")
def featurize(config: Config | str, images: str | None = None, cohort: Cohort | None = None) -> FeaturizeReport:
    """Fill the feature cache for the cohort's images (read by the ingest flow unless given), or for every image
    under the folder ``images``; only images the cache lacks are computed."""
    config = resolve_config(config)
    with leukmodel_logs(), ray_session(config):
        if images is not None:
            paths = sorted({p for item in folder_items(images) for p in item.images})
        else:
            cohort = cohort or ingest(config)
            paths = sorted({Path(p) for s in cohort.samples for p in s.images})
        return featurize_images(paths, config)
