"""The genomic transform: log2, per-gene z-score and PCA, fitted per fold and exportable as a frozen layer."""

from leukmodel.genomics.transform import GenomicProjection, GenomicTransform, looks_linear_scale

__all__ = ["GenomicProjection", "GenomicTransform", "looks_linear_scale"]
