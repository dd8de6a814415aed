"""What every model returns: logits and the attention weights that explanations read."""

from __future__ import annotations

from dataclasses import dataclass, fields

from torch import Tensor


@dataclass
class ModelOutput:
    """The output of one bag, or of a packed batch of bags (every field then has a leading bag dimension B).

    Attributes:
        logits: (C,) class scores.
        attention: (N,) MIL attention over the tiles (sums to 1; exactly 0 on the padding of a packed batch),
            ``None`` for the genomic-only model.
        genomic_to_image: (heads, N) the genomic query's attention over the tiles (fusion only).
        image_to_genomic: (heads, N, T) each tile's attention over the genomic tokens (fusion only).
    """

    logits: Tensor
    attention: Tensor | None = None
    genomic_to_image: Tensor | None = None
    image_to_genomic: Tensor | None = None

    def bag(self, index: int) -> ModelOutput:
        """The output of bag ``index`` of a packed batch."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return ModelOutput(**{name: None if value is None else value[index] for name, value in values.items()})
