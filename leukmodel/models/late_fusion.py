"""Late fusion: the image-only model's pooled bag feature and the genomic-only model's embedding, concatenated
into the fusion model's head. The comparison MCAT makes: does cross-attention beat simple concatenation?"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from leukmodel.config.model import ModelConfig
from leukmodel.models.fusion import BagClassifier, ModelParts
from leukmodel.models.genomic import GenomicEncoder
from leukmodel.models.mil import ClassifierHead, GatedAttentionPool
from leukmodel.models.output import ModelOutput


class LateFusionModel(BagClassifier):
    """Gated attention MIL over the standardised tiles -> z (D,); genomic encoder -> g (E,); head([z, g]).

    The same parts and sizes as the fusion model without the cross-attention, so the two differ only in how the
    modalities meet. The MIL attention is the one attention map it has (no cross-attention maps).
    """

    name = "late_fusion"
    uses_images = True
    uses_expression = True

    def __init__(
        self,
        n_classes: int,
        feature_dim: int,
        genomic_in: int,
        cfg: ModelConfig,
        tile_encoder: nn.Module | None = None,
        genomic_input: nn.Module | None = None,
    ):
        super().__init__(n_classes, tile_encoder=tile_encoder, genomic_input=genomic_input)
        self.standardize_inputs(cfg, feature_dim, genomic_in)
        self.encoder = GenomicEncoder(genomic_in, cfg.genomic_hidden, cfg.genomic_dim, cfg.dropout)
        self.pool = GatedAttentionPool(feature_dim, cfg.mil_attention_dim)
        self.head = ClassifierHead(feature_dim + cfg.genomic_dim, n_classes, cfg.mil_hidden, cfg.dropout)

    @classmethod
    def create(cls, parts: ModelParts) -> LateFusionModel:
        return cls(*parts.all())

    def forward_packed(self, features: Tensor | None, expression: Tensor | None, mask: Tensor | None) -> ModelOutput:
        pooled, attention = self.pool(self.tiles(features, mask), mask)
        embedding = self.encoder(self.genome(expression))
        return ModelOutput(logits=self.head(torch.cat([pooled, embedding], dim=-1)), attention=attention)
