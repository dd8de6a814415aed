"""The samples a run can use: those whose images gave at least one tile, with their feature bags."""

from __future__ import annotations

import logging

from leukmodel.config import Config
from leukmodel.data.cohort import Cohort
from leukmodel.features import training_bags
from leukmodel.training.trainer import FeatureBag

logger = logging.getLogger(__name__)


def usable_samples(cohort: Cohort, config: Config) -> tuple[Cohort, dict[str, FeatureBag]]:
    """The cohort restricted to samples with tiles (images without foreground may leave a bag empty), and bags."""
    if not cohort.has_images:
        return cohort, {}
    bags = training_bags(cohort, config)
    if bags.skipped:
        logger.warning("left out, no tiles: %s", bags.skipped)
        cohort = cohort.subset([s.sample_id for s in cohort.samples if s.sample_id in bags])
    return cohort, dict(bags)
