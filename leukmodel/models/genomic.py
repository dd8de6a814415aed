"""The genomic encoder and the token set that lets attention look at the genomic embedding."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class GenomicEncoder(nn.Module):
    """An MLP from the transformed expression to the genomic embedding (DESIGN.md section 5).

    ``in_dim -> hidden[0] -> hidden[1] -> out_dim`` with ReLU and dropout after each hidden layer
    (default 500 -> 500 -> 256 -> 128, dropout 0.3).
    """

    def __init__(self, in_dim: int, hidden: Sequence[int] = (500, 256), out_dim: int = 128, dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class GenomicTokens(nn.Module):
    """Turn a genomic embedding (E,) into a set of E tokens (E, d): token_i = g_i * v_i + p_i.

    Attention over a single key is trivially 1, so the embedding becomes a set: each dimension is a token
    whose value scales a learned vector ``v_i``, plus a learned position ``p_i`` that identifies it.
    """

    def __init__(self, n_tokens: int, dim: int):
        super().__init__()
        self.value = nn.Parameter(torch.randn(n_tokens, dim) / dim**0.5)
        self.position = nn.Parameter(torch.randn(n_tokens, dim) / dim**0.5)

    def forward(self, embedding: Tensor) -> Tensor:
        return embedding.unsqueeze(-1) * self.value + self.position
