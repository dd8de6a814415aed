"""The cohort data layer: readers per format, pairing of modalities, checks and the synthetic cohort."""

from leukmodel.data.build import build_cohort
from leukmodel.data.cohort import Cohort, Sample, Unpaired
from leukmodel.data.validate import CohortSummary, check_folds_feasible, check_images, summarize

__all__ = [
    "Cohort",
    "CohortSummary",
    "Sample",
    "Unpaired",
    "build_cohort",
    "check_folds_feasible",
    "check_images",
    "summarize",
]
