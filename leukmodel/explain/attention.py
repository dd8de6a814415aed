"""One bag through a trained model: its class probabilities and every attention map the model computes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from leukmodel.models.fusion import BagClassifier


@dataclass(frozen=True)
class BagAttention:
    """A model's output on all tiles of one bag.

    Attributes:
        probabilities: ``(C,)`` softmax of the logits.
        mil: ``(N,)`` gated-attention MIL weights over the tiles (sum to 1), ``None`` for genomic-only.
        genomic_to_image: ``(heads, N)`` the genomic query's attention over the tiles (fusion only).
        image_to_genomic: ``(heads, N, T)`` each tile's attention over the T genomic tokens (fusion only).
    """

    probabilities: np.ndarray
    mil: np.ndarray | None = None
    genomic_to_image: np.ndarray | None = None
    image_to_genomic: np.ndarray | None = None

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))

    def genomic_to_image_mean(self) -> np.ndarray | None:
        """``(N,)`` genomic -> image attention averaged over the heads (sums to 1)."""
        return None if self.genomic_to_image is None else self.genomic_to_image.mean(axis=0)

    def image_to_genomic_mean(self) -> np.ndarray | None:
        """``(N, T)`` image -> genomic attention averaged over the heads (each row sums to 1)."""
        return None if self.image_to_genomic is None else self.image_to_genomic.mean(axis=0)


@torch.inference_mode()
def bag_attention(model: BagClassifier, features: Tensor | None, expression: Tensor | None) -> BagAttention:
    """Run ``model`` (in eval mode) on all tiles of a bag and collect its probabilities and attention maps."""
    model.eval()
    output = model(features, expression)
    return BagAttention(
        probabilities=output.logits.softmax(-1).float().cpu().numpy(),
        mil=_numpy(output.attention),
        genomic_to_image=_numpy(output.genomic_to_image),
        image_to_genomic=_numpy(output.image_to_genomic),
    )


def _numpy(tensor: Tensor | None) -> np.ndarray | None:
    return None if tensor is None else tensor.float().cpu().numpy()
