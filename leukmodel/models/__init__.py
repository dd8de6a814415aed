"""The fusion model (bidirectional cross-attention + gated attention MIL), its baselines and the loss."""

from leukmodel.models.cross_attention import BidirectionalCrossAttention, CrossAttentionOutput
from leukmodel.models.fusion import (
    MODEL_NAMES,
    BagClassifier,
    FusionModel,
    GenomicOnlyModel,
    ImageOnlyModel,
    ModelName,
    build_model,
)
from leukmodel.models.genomic import GenomicEncoder, GenomicTokens
from leukmodel.models.loss import attention_kl_uniform, mil_loss
from leukmodel.models.mil import ClassifierHead, GatedAttentionPool
from leukmodel.models.output import ModelOutput
from leukmodel.models.tile_encoder import Layer4Encoder
from leukmodel.models.tile_norm import FeatureStandardizer

__all__ = [
    "MODEL_NAMES",
    "BagClassifier",
    "BidirectionalCrossAttention",
    "ClassifierHead",
    "CrossAttentionOutput",
    "FeatureStandardizer",
    "FusionModel",
    "GatedAttentionPool",
    "GenomicEncoder",
    "GenomicOnlyModel",
    "GenomicTokens",
    "ImageOnlyModel",
    "Layer4Encoder",
    "ModelName",
    "ModelOutput",
    "attention_kl_uniform",
    "build_model",
    "mil_loss",
]
