"""The training loss: cross-entropy plus a KL pull of the MIL attention towards uniform."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from leukmodel.models.output import ModelOutput


def attention_kl_uniform(attention: Tensor, mask: Tensor | None = None) -> Tensor:
    """KL(attention || uniform) = sum_j a_j log(a_j N) per bag; zero when the attention is uniform.

    ``attention`` is (N,) or (B, N); with a tile ``mask`` (B, N) (``True`` for real tiles) N is each bag's
    number of real tiles, and padded tiles (attention exactly 0) add nothing.
    """
    n = attention.new_tensor(attention.shape[-1]) if mask is None else mask.sum(-1).to(attention.dtype)
    return (attention * (torch.log(attention.clamp_min(1e-12)) + torch.log(n).unsqueeze(-1))).sum(-1)


def mil_loss(output: ModelOutput, target: Tensor, kl_lambda: float, mask: Tensor | None = None) -> Tensor:
    """Cross-entropy of the bag logits + ``kl_lambda`` * KL(attention || uniform) (no KL term without attention).

    One bag (logits (C,), target ()) or a packed batch (logits (B, C), target (B,), tile ``mask`` (B, N)): the
    loss is then the mean of the per-bag losses, each bag's KL term taken over its real tiles only.
    """
    logits = output.logits.reshape(-1, output.logits.shape[-1])
    loss = F.cross_entropy(logits, target.reshape(-1), reduction="none")
    if output.attention is not None and kl_lambda > 0:
        attention = output.attention.reshape(len(logits), -1)
        loss = loss + kl_lambda * attention_kl_uniform(attention, mask)
    return loss.mean()
