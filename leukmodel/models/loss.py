"""The training loss: cross-entropy plus a KL pull of the MIL attention towards uniform."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

from leukmodel.models.output import ModelOutput


def attention_kl_uniform(attention: Tensor) -> Tensor:
    """KL(attention || uniform) = sum_j a_j log(a_j N); zero when the attention is uniform."""
    n = attention.shape[-1]
    return (attention * (torch.log(attention.clamp_min(1e-12)) + math.log(n))).sum(-1)


def mil_loss(output: ModelOutput, target: Tensor, kl_lambda: float) -> Tensor:
    """Cross-entropy of the bag logits + ``kl_lambda`` * KL(attention || uniform) (no KL term without attention)."""
    loss = F.cross_entropy(output.logits.unsqueeze(0), target.view(1))
    if output.attention is not None and kl_lambda > 0:
        loss = loss + kl_lambda * attention_kl_uniform(output.attention)
    return loss
