"""Per-dimension standardisation of tile features, fitted on a fold's training tiles and frozen in the model."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from torch import Tensor, nn


class FeatureStandardizer(nn.Module):
    """(f - mean) / scale per feature dimension, with statistics of the training tiles only.

    Backbone features are far from standardised (a randomly initialised ResNet-50 gives dimensions with means
    near 100 and spreads near 2); the attention and the classifier train quickly and stably only on standardised
    inputs. The statistics are buffers in the ``state_dict``, so a trained model carries them. Until
    :meth:`fit` is called the layer is the identity.
    """

    def __init__(self, feature_dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(feature_dim))
        self.register_buffer("scale", torch.ones(feature_dim))

    @torch.no_grad()
    def fit(self, features: Tensor | Iterable[Tensor]) -> FeatureStandardizer:
        """Fit on (M, D) training tile features (all tiles of the training bags), or on chunks of them (streamed:
        only one chunk is in memory at a time)."""
        scaler = StandardScaler()
        for chunk in [features] if isinstance(features, Tensor) else features:
            scaler.partial_fit(chunk.detach().float().cpu().numpy())
        self.mean.copy_(torch.from_numpy(scaler.mean_.astype(np.float32)))
        self.scale.copy_(torch.from_numpy(scaler.scale_.astype(np.float32)))
        return self

    def forward(self, features: Tensor) -> Tensor:
        return (features - self.mean) / self.scale
