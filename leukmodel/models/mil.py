"""Gated attention multiple-instance pooling (Ilse, Tomczak and Welling, 2018) and the bag classifier head."""

from __future__ import annotations

from torch import Tensor, nn


class GatedAttentionPool(nn.Module):
    """a_j = softmax_j(w^T (tanh(V f_j) * sigmoid(U f_j))), z = sum_j a_j f_j.

    Returns the pooled bag feature z (D,) and the attention weights a (N,), which sum to 1. The scoring layer
    ``w`` starts at zero, so attention starts uniform and any preference for a tile is learned, not an accident
    of the initialisation. A packed batch (B, N, D) comes with a tile ``mask`` (B, N), ``True`` for real tiles:
    padded tiles get exactly zero attention, so each bag pools as it would alone.
    """

    def __init__(self, feature_dim: int, attention_dim: int = 256):
        super().__init__()
        self.value = nn.Sequential(nn.Linear(feature_dim, attention_dim), nn.Tanh())
        self.gate = nn.Sequential(nn.Linear(feature_dim, attention_dim), nn.Sigmoid())
        self.score = nn.Linear(attention_dim, 1)
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)

    def forward(self, features: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        scores = self.score(self.value(features) * self.gate(features)).squeeze(-1)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        attention = scores.softmax(dim=-1)
        return (attention.unsqueeze(-2) @ features).squeeze(-2), attention


class ClassifierHead(nn.Module):
    """The bag classifier: D -> hidden -> C with ReLU and dropout (2048 -> 512 -> C)."""

    def __init__(self, feature_dim: int, n_classes: int, hidden: int = 512, dropout: float = 0.3):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(feature_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes)
        )

    def forward(self, pooled: Tensor) -> Tensor:
        return self.net(pooled)
