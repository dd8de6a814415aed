"""The fusion model (bidirectional cross-attention + gated attention MIL), its baselines, the registry and the loss."""

from leukmodel.models.cross_attention import BidirectionalCrossAttention, CrossAttentionOutput
from leukmodel.models.fusion import (
    BagClassifier,
    FusionModel,
    GenomicOnlyModel,
    ImageOnlyModel,
    ModelName,
    ModelParts,
)
from leukmodel.models.genomic import GenomicEncoder, GenomicTokens
from leukmodel.models.late_fusion import LateFusionModel
from leukmodel.models.loss import attention_kl_uniform, mil_loss
from leukmodel.models.mil import ClassifierHead, GatedAttentionPool
from leukmodel.models.output import ModelOutput
from leukmodel.models.registry import MODELS, ModelEntry, build_model, model_entry
from leukmodel.models.tile_encoder import Layer4Encoder
from leukmodel.models.tile_norm import FeatureStandardizer

__all__ = [
    "MODELS",
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
    "LateFusionModel",
    "Layer4Encoder",
    "ModelEntry",
    "ModelName",
    "ModelOutput",
    "ModelParts",
    "attention_kl_uniform",
    "build_model",
    "mil_loss",
    "model_entry",
]
