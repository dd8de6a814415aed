"""Late fusion: the image-only model's pooled bag feature and the genomic-only model's embedding, concatenated
into the fusion model's head. The comparison MCAT makes: does cross-attention beat simple concatenation?"""

from __future__ import annotations

import torch
from torch import Tensor

from leukmodel.models.fusion import BagClassifier, ModelParts, genomic_encoder, head
from leukmodel.models.mil import GatedAttentionPool
from leukmodel.models.output import ModelOutput


class LateFusionModel(BagClassifier):
    """Gated attention MIL over the standardised (and projected) tiles -> z (D,); genomic encoder -> g (E,);
    head([z, g]).

    The same parts and sizes as the fusion model without the cross-attention, so the two differ only in how the
    modalities meet. The MIL attention is the one attention map it has (no cross-attention maps).
    """

    name = "late_fusion"
    uses_images = True
    uses_expression = True

    def __init__(self, parts: ModelParts):
        super().__init__(parts)
        self.pool = GatedAttentionPool(parts.tile_width, parts.cfg.mil_attention_dim)
        self.encoder = genomic_encoder(parts)
        self.head = head(parts, parts.tile_width + parts.cfg.genomic_dim)
        self.input_layers(parts)

    def forward_packed(self, features: Tensor | None, expression: Tensor | None, mask: Tensor | None) -> ModelOutput:
        pooled, attention = self.pool(self.tiles(features, mask), mask)
        embedding = self.encoder(self.genome(expression))
        return ModelOutput(logits=self.head(torch.cat([pooled, embedding], dim=-1)), attention=attention)
