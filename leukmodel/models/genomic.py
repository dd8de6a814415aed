"""The genomic encoder and the token set that lets attention look at the genomic embedding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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

    def normed(self, embedding: Tensor, norm: nn.LayerNorm) -> NormedTokens:
        """``norm(self(embedding))`` for embeddings (..., T), kept factored (:class:`NormedTokens`).

        A token is affine in its value g: ``x = g v + p``. Centred over the width it is ``g a + c`` (``a``, ``c``:
        ``v`` and ``p`` centred), with variance ``g^2 mean(a^2) + 2 g mean(a c) + mean(c^2)``, so the normed token is
        ``(g / s) (gamma a) + (1 / s) (gamma c) + beta`` with ``s = sqrt(variance + eps)``: two per-sample scalars
        times two fixed vectors per token.
        """
        a = self.value - self.value.mean(-1, keepdim=True)
        c = self.position - self.position.mean(-1, keepdim=True)
        variance = embedding.square() * a.square().mean(-1) + 2 * embedding * (a * c).mean(-1) + c.square().mean(-1)
        inverse_scale = (variance + norm.eps).rsqrt()
        return NormedTokens(embedding * inverse_scale, inverse_scale, a * norm.weight, c * norm.weight, norm.bias)


@dataclass
class NormedTokens:
    """Layer-normed genomic tokens in factored form: token i of a sample is
    ``along[..., i] * value[i] + at[..., i] * position[i] + shift``.

    Anything linear in the tokens (attention keys and values) then costs one product with the (T, width) ``value``
    and ``position`` per batch, not one per sample.
    """

    along: Tensor
    at: Tensor
    value: Tensor
    position: Tensor
    shift: Tensor
