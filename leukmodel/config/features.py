"""Tiling, the backbone and the feature cache."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from leukmodel.config.base import ResolvedPath, Section


class TilesConfig(Section):
    """Foreground detection and tiling of each image."""

    patch_size: int = Field(224, ge=16)
    overlap: float = Field(0.5, ge=0.0, lt=1.0)
    min_foreground: float = Field(0.1, ge=0.0, le=1.0)
    small_image: Literal["pad", "reject"] = "pad"
    on_no_foreground: Literal["error", "skip"] = "error"


class BackboneConfig(Section):
    """The tile encoder.

    ``weights``: ``imagenet`` (torchvision's weights API and cache; needs internet once or a filled
    cache), ``none`` (random initialisation; runs are tagged so), or a path to a local state dict.
    """

    arch: Literal["resnet50", "resnet18"] = "resnet50"
    weights: str = "imagenet"
    freeze: Literal["layer3"] = "layer3"


class FeaturesConfig(Section):
    """Feature extraction and the content-addressed cache shared by every flow, fold and trial."""

    cache_dir: ResolvedPath = Path("feature-cache")
    batch_size: int = Field(32, ge=1)
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    device: str = "auto"
    num_workers: int = Field(2, ge=0)
    store_layer3: bool = False
