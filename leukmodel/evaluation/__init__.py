"""Metrics with bootstrap intervals and McNemar's test between models."""

from leukmodel.evaluation.mcnemar import McNemarResult, mcnemar_table, mcnemar_test
from leukmodel.evaluation.metrics import ClassificationMetrics, classification_metrics
from leukmodel.evaluation.tables import format_interval, markdown_table

__all__ = [
    "ClassificationMetrics",
    "McNemarResult",
    "classification_metrics",
    "format_interval",
    "markdown_table",
    "mcnemar_table",
    "mcnemar_test",
]
