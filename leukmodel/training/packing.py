"""Packed bags: several bags of different sizes as one zero-padded batch with a tile mask."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

PREDICT_BATCH_ELEMENTS = 2**24
"""The most feature values (padding included) one prediction batch holds: 64 MB in fp32, or 9 bags of 9 layer3
maps."""
PREDICT_BATCH_BAGS = 128
"""The most bags of one prediction batch: the fusion model's genomic tokens (128 x 256 values per bag) and their
attention projections grow with the bags, not the tiles; per-bag time no longer falls beyond some 64 bags."""


@dataclass
class PackedBatch:
    """B bags as tensors.

    Attributes:
        features: (B, N, ...) tile features (or layer3 maps), zero past each bag's own tiles; ``None`` when the
            model reads no images.
        expression: (B, G) per-gene expression, ``None`` when the model reads none.
        mask: (B, N) ``True`` for the real tiles of each bag; ``None`` without features.
        labels: (B,) class indices, ``None`` for bags to predict.
    """

    features: Tensor | None
    expression: Tensor | None
    mask: Tensor | None
    labels: Tensor | None

    def __len__(self) -> int:
        return len(next(t for t in (self.labels, self.features, self.expression) if t is not None))


def pack(
    features: Sequence[Tensor | None],
    expression: Sequence[Tensor | None],
    labels: Sequence[int] | None,
    device: torch.device,
) -> PackedBatch:
    """Pad the bags' tiles to the largest bag and stack everything on ``device`` (float64 becomes float32)."""
    packed_features = mask = packed_expression = None
    if features and features[0] is not None:
        lengths = torch.tensor([len(f) for f in features])
        packed_features = _to(pad_sequence(list(features), batch_first=True), device)
        mask = (torch.arange(int(lengths.max())) < lengths.unsqueeze(1)).to(device)
    if expression and expression[0] is not None:
        packed_expression = _to(torch.stack(list(expression)), device)
    packed_labels = None if labels is None else torch.tensor(list(labels), device=device)
    return PackedBatch(packed_features, packed_expression, mask, packed_labels)


def prediction_batches(
    sizes: Sequence[tuple[int, ...]], max_elements: int = PREDICT_BATCH_ELEMENTS, max_bags: int = PREDICT_BATCH_BAGS
) -> Iterator[slice]:
    """Consecutive slices of at most ``max_bags`` bags whose padded batch holds at most ``max_elements`` values
    (at least one bag).

    ``sizes`` are the bags' feature shapes ``(N, ...)`` (``()`` for a model without images).
    """
    start = 0
    while start < len(sizes):
        stop, widest = start, 0
        while stop < len(sizes):
            shape = sizes[stop]
            widest = max(widest, shape[0] if shape else 1)
            per_tile = math.prod(shape[1:]) if shape else 1
            if stop > start and (widest * per_tile * (stop - start + 1) > max_elements or stop - start == max_bags):
                break
            stop += 1
        yield slice(start, stop)
        start = stop


def _to(tensor: Tensor, device: torch.device) -> Tensor:
    tensor = tensor.to(device, non_blocking=True)
    return tensor.float() if tensor.dtype == torch.float64 else tensor
