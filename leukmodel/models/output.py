"""What every model returns: logits and the attention weights that explanations read."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class ModelOutput:
    """The output of one bag.

    Attributes:
        logits: (C,) class scores.
        attention: (N,) MIL attention over the tiles (sums to 1), ``None`` for the genomic-only model.
        genomic_to_image: (heads, N) the genomic query's attention over the tiles (fusion only).
        image_to_genomic: (heads, N, T) each tile's attention over the genomic tokens (fusion only).
    """

    logits: Tensor
    attention: Tensor | None = None
    genomic_to_image: Tensor | None = None
    image_to_genomic: Tensor | None = None
