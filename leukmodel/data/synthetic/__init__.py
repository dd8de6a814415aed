"""The synthetic cohort generator: Giemsa-like cell images and log2 expression profiles with a planted signal.

See docs/synthetic.md for the layout, the planted signal per class and the knobs.
"""

from leukmodel.data.synthetic.expression import MARKER_GENES, marker_probes, module_probes, probe_annotation
from leukmodel.data.synthetic.figure import example_grid
from leukmodel.data.synthetic.marker import MARKER_NAME, is_synthetic
from leukmodel.data.synthetic.plan import EXPRESSION_GROUPS, MORPHOLOGY_GROUPS, class_signals, plan_patients
from leukmodel.data.synthetic.writer import GENERATOR_VERSION, cohort_image, is_written, write_synthetic_cohort

__all__ = [
    "EXPRESSION_GROUPS",
    "GENERATOR_VERSION",
    "MARKER_GENES",
    "MARKER_NAME",
    "MORPHOLOGY_GROUPS",
    "class_signals",
    "cohort_image",
    "example_grid",
    "is_synthetic",
    "marker_probes",
    "module_probes",
    "plan_patients",
    "probe_annotation",
    "is_written",
    "write_synthetic_cohort",
]
