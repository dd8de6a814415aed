"""The answer for one sample: probabilities, the class, which model answered, tile attention and imputation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from leukmodel.config.model import ModelName


@dataclass(frozen=True)
class EncodedBag:
    """The tiles of one sample's images and their features, in bag order.

    Attributes:
        tiles: ``(N, P, P, 3)`` uint8 RGB tiles.
        features: ``(N, D)`` float32 pooled features, or ``(N, C, h, w)`` float16 layer3 maps.
        coords: ``(N, 2)`` int64 ``x, y`` of each tile's top-left corner in its image.
        image_index: ``(N,)`` int64 index into ``images``.
        images: the names of the sample's images (paths, or ``data-uri[k]``).
        skipped: images without foreground left out, and why (``tiles.on_no_foreground: skip``).
    """

    tiles: np.ndarray
    features: np.ndarray
    coords: np.ndarray
    image_index: np.ndarray
    images: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.tiles)


@dataclass
class Prediction:
    """The prediction for one sample.

    Attributes:
        sample_id: the request's sample id.
        model: the model that answered: the two-modality model (``fusion``), or ``image`` / ``genomic`` when a
            modality is missing.
        missing_modality: ``None``, or ``expression`` / ``images`` when a single-modality model answered.
        classes: the class order.
        probabilities: ``(C,)`` class probabilities.
        attention: ``(N,)`` MIL attention over the bag's tiles (sums to 1); empty for the genomic model.
        bag: the encoded tiles (``None`` without images).
        expression: ``(G,)`` the profile as the model read it (aligned, imputed), ``None`` without expression.
        imputed_genes: genes filled with their training mean.
        tags: provenance of the training cohort (``pairing``, ``synthetic``).
        precision: the backbone's precision (``None`` without images).
        seconds: wall time of ``read_tile`` (decode and tile), ``features`` (backbone) and ``model``.
    """

    sample_id: str
    model: ModelName
    missing_modality: Literal["images", "expression"] | None
    classes: tuple[str, ...]
    probabilities: np.ndarray
    attention: np.ndarray
    bag: EncodedBag | None
    expression: np.ndarray | None
    imputed_genes: list[str]
    tags: dict[str, str]
    precision: str | None
    seconds: dict[str, float]

    @property
    def predicted_class(self) -> str:
        return self.classes[int(np.argmax(self.probabilities))]

    def top_tiles(self, k: int) -> list[dict[str, Any]]:
        """The ``k`` tiles with the highest attention, highest first."""
        if self.bag is None:
            return []
        order = np.argsort(-self.attention, kind="stable")[:k]
        return [{"rank": rank, **self._tile(int(j))} for rank, j in enumerate(order, 1)]

    def to_record(self, top_tiles: int) -> dict[str, Any]:
        """The prediction as JSON-compatible values (one row of the pyfunc's output)."""
        bag = self.bag
        return {
            "sample_id": self.sample_id,
            "model": self.model,
            "missing_modality": self.missing_modality,
            "predicted_class": self.predicted_class,
            "probabilities": {c: float(p) for c, p in zip(self.classes, self.probabilities, strict=True)},
            "n_tiles": 0 if bag is None else len(bag),
            "top_tiles": self.top_tiles(top_tiles),
            "tiles": [] if bag is None else [self._tile(j) for j in range(len(bag))],
            "images": [] if bag is None else list(bag.images),
            "skipped_images": {} if bag is None else dict(bag.skipped),
            "imputed_genes": list(self.imputed_genes),
            "tags": dict(self.tags),
            "precision": self.precision,
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
        }

    def _tile(self, j: int) -> dict[str, Any]:
        bag = self.bag
        image = int(bag.image_index[j])
        return {
            "image": bag.images[image],
            "x": int(bag.coords[j, 0]),
            "y": int(bag.coords[j, 1]),
            "size": int(bag.tiles.shape[1]),
            "attention": float(self.attention[j]),
        }
