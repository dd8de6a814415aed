"""The self-contained HTML report of a cross-validation (see docs/explain.md)."""

from leukmodel.report.build import Flag, build_report, provenance_flags
from leukmodel.report.results import load_cv_result

__all__ = ["Flag", "build_report", "load_cv_result", "provenance_flags"]
