"""Explanations of trained models: attention maps, Grad-CAM on the backbone, SHAP on the genes, and their figures.

See docs/explain.md for what each explanation computes and the files it writes.
"""

from leukmodel.explain.artifacts import ArtifactError, OutOfFold, out_of_fold, read_table
from leukmodel.explain.attention import BagAttention, bag_attention
from leukmodel.explain.cv import class_top_genes, explain_cv, pick_samples, sample_folder
from leukmodel.explain.genes import ExpressionToLogits, gene_attributions, top_genes
from leukmodel.explain.gradcam import TileToBagLogits, tile_gradcam
from leukmodel.explain.sample import CAPTIONS, SampleExplanation, explain_sample, load_explanation_backbone
from leukmodel.explain.tiles import BagPixels, bag_pixels

__all__ = [
    "CAPTIONS",
    "ArtifactError",
    "BagAttention",
    "BagPixels",
    "ExpressionToLogits",
    "OutOfFold",
    "SampleExplanation",
    "TileToBagLogits",
    "bag_attention",
    "bag_pixels",
    "class_top_genes",
    "explain_cv",
    "explain_sample",
    "gene_attributions",
    "load_explanation_backbone",
    "out_of_fold",
    "pick_samples",
    "read_table",
    "sample_folder",
    "tile_gradcam",
    "top_genes",
]
