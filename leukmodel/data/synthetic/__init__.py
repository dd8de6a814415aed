"""The synthetic cohort generator (see docs/synthetic.md)."""

from leukmodel.data.synthetic.marker import MARKER_NAME, is_synthetic

__all__ = ["MARKER_NAME", "is_synthetic"]
