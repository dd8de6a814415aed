"""Batched tile encoding: uint8 RGB tiles -> pooled features, and optionally layer3 maps."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torchvision
import torchvision.transforms.v2.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from leukmodel.config import BackboneConfig, Config, FeaturesConfig
from leukmodel.device import resolve_device
from leukmodel.features.backbone import BackboneInfo, load_backbone, split_backbone
from leukmodel.features.device import resolve_precision

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def tile_tensor(tiles: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """Model input for ``(N, P, P, 3)`` uint8 RGB tiles, exactly as extraction computes it.

    Returns float32 ``(N, 3, P, P)`` in channels-last memory format on ``device``, scaled to [0, 1] and
    normalised with the ImageNet mean and std. Grad-CAM and serving use this to reproduce the model's input.
    """
    x = torch.from_numpy(np.ascontiguousarray(tiles)).to(device).permute(0, 3, 1, 2)
    return F.normalize(F.to_dtype(x, torch.float32, scale=True), list(IMAGENET_MEAN), list(IMAGENET_STD))


class FeatureExtractor:
    """Encodes tiles with the frozen backbone, without any cache (serving uses it on single slides).

    It runs an inference copy of the backbone: batch norm folded into the convolutions (exact for a frozen
    network), channels-last memory format, on the configured device, and in bfloat16 (weights and activations)
    when the precision resolves to ``bf16``. Every batch has ``batch_size`` tiles, the last one padded, so the
    kernels chosen for the first batch are reused (oneDNN recreates its primitives when a shape changes).

    ``loaded`` is the result of :func:`~leukmodel.features.load_backbone` for ``backbone`` when the caller has
    it already.

    Attributes:
        info: the backbone's :class:`~leukmodel.features.backbone.BackboneInfo`.
        device: the device the backbone runs on.
        precision: ``bf16`` or ``fp32``.
        forward_passes: batches run through the backbone so far.
    """

    def __init__(
        self,
        backbone: BackboneConfig,
        features: FeaturesConfig,
        *,
        loaded: tuple[torchvision.models.ResNet, BackboneInfo] | None = None,
    ) -> None:
        model, self.info = loaded or load_backbone(backbone)
        self.device = resolve_device(features.device)
        self.precision = resolve_precision(features.precision, self.device)
        self.batch_size = features.batch_size
        self.forward_passes = 0
        self._dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        trunk, head = split_backbone(_fold_batchnorm(copy.deepcopy(model)))
        self._trunk = trunk.to(self.device, self._dtype, memory_format=torch.channels_last)
        self._head = head.to(self.device, self._dtype, memory_format=torch.channels_last)

    @classmethod
    def from_config(cls, config: Config) -> FeatureExtractor:
        return cls(config.backbone, config.features)

    def pooled(self, tiles: np.ndarray) -> np.ndarray:
        """``(N, D)`` float32 pooled features of ``(N, P, P, 3)`` uint8 RGB tiles."""
        return self.extract(tiles)[0]

    def layer3(self, tiles: np.ndarray) -> np.ndarray:
        """``(N, C, h, w)`` float16 layer3 maps (the input of layer4) of ``(N, P, P, 3)`` uint8 RGB tiles."""
        return self.extract(tiles, layer3=True)[1]

    def extract(self, tiles: np.ndarray, *, layer3: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Pooled features and, when ``layer3``, the layer3 maps of the same tiles, in one pass."""
        pooled: list[np.ndarray] = []
        maps: list[np.ndarray] = []
        for start in range(0, len(tiles), self.batch_size):
            chunk = tiles[start : start + self.batch_size]
            count = len(chunk)
            if count < self.batch_size:
                chunk = np.concatenate([chunk, np.zeros((self.batch_size - count, *chunk.shape[1:]), chunk.dtype)])
            batch_pooled, batch_maps = self._forward(chunk, layer3)
            pooled.append(batch_pooled[:count])
            if batch_maps is not None:
                maps.append(batch_maps[:count])
        if not pooled:
            return np.zeros((0, self.info.feature_dim), np.float32), None
        return np.concatenate(pooled), np.concatenate(maps) if layer3 else None

    @torch.inference_mode()
    def _forward(self, chunk: np.ndarray, layer3: bool) -> tuple[np.ndarray, np.ndarray | None]:
        x = tile_tensor(chunk, self.device).to(self._dtype)
        maps = self._trunk(x)
        pooled = self._head(maps)
        self.forward_passes += 1
        maps_out = maps.to(torch.float16).contiguous().cpu().numpy() if layer3 else None
        return pooled.float().cpu().numpy(), maps_out


def _fold_batchnorm(model: torchvision.models.ResNet) -> torchvision.models.ResNet:
    """Fold every eval-mode batch norm of a ResNet into the convolution before it (in place)."""
    model.conv1 = fuse_conv_bn_eval(model.conv1, model.bn1)
    model.bn1 = nn.Identity()
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in stage:
            for i in (1, 2, 3):
                if hasattr(block, f"conv{i}"):
                    setattr(block, f"conv{i}", fuse_conv_bn_eval(getattr(block, f"conv{i}"), getattr(block, f"bn{i}")))
                    setattr(block, f"bn{i}", nn.Identity())
            if block.downsample is not None:
                block.downsample = fuse_conv_bn_eval(block.downsample[0], block.downsample[1])
    return model
