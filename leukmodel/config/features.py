"""Tiling, the backbone and the feature cache."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from leukmodel.config.base import ResolvedPath, Section


class TilesConfig(Section):
    """Foreground detection and tiling of each image.

    ``min_foreground``: the fraction of a tile's pixels that must be foreground for the tile to be kept.
    ``small_image``: an image smaller than a tile is padded with its background colour, or rejected.
    ``on_no_foreground``: an image without foreground stops the run with a named error, or is skipped and the
    skip recorded (in the featurize report and the cache; :func:`~leukmodel.features.load_bags` reports it).
    """

    patch_size: int = Field(224, ge=16)
    overlap: float = Field(0.5, ge=0.0, lt=1.0)
    min_foreground: float = Field(0.1, ge=0.0, le=1.0)
    small_image: Literal["pad", "reject"] = "pad"
    on_no_foreground: Literal["error", "skip"] = "error"


class BackboneConfig(Section):
    """The tile encoder.

    ``weights``: ``imagenet`` (torchvision's weights API and cache; needs internet once or a filled
    cache), ``none`` (random initialisation drawn with ``seed``; runs are tagged so), or a path to a local
    state dict (relative paths are relative to the config file).
    """

    arch: Literal["resnet50", "resnet18"] = "resnet50"
    weights: Literal["imagenet", "none"] | ResolvedPath = "imagenet"
    seed: int = 0
    freeze: Literal["layer3"] = "layer3"


class FeaturesConfig(Section):
    """Feature extraction and the content-addressed cache shared by every flow, fold and trial.

    ``precision``: ``auto`` is bf16 where the device computes it natively, else fp32; it is part of the cache
    key. ``h5_dir``: a folder of CLAM/TRIDENT bags (``<image stem>.h5``) to use instead of the cache.
    """

    cache_dir: ResolvedPath = Path("feature-cache")
    batch_size: int = Field(32, ge=1)
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    device: str = "auto"
    num_workers: int = Field(2, ge=0)
    store_layer3: bool = False
    h5_dir: ResolvedPath | None = None
