"""Grad-CAM (captum) on the backbone's layer4 for tiles of a bag, through the whole trained bag model.

The bag model reads cached features, not pixels, so Grad-CAM needs a path from a tile's pixels to the bag's
class score. :class:`TileToBagLogits` is that path: the tile goes through the same backbone the features came
from (trunk, layer4, average pooling), its feature replaces its own row of the bag, and the trained model
classifies the bag with every other tile's cached feature and the sample's expression held fixed. Grad-CAM on
layer4 of this path says which parts of the tile raised the score of the target class of the whole bag.

With ``training.finetune_layer4`` the bag holds layer3 maps and the model its own fine-tuned layer4; the tile
then replaces its row of layer3 maps, and Grad-CAM runs on the model's fine-tuned layer4.
"""

from __future__ import annotations

import numpy as np
import torch
import torchvision
from captum.attr import LayerAttribution, LayerGradCam
from torch import Tensor, nn

from leukmodel.features.backbone import split_backbone
from leukmodel.features.extractor import tile_tensor
from leukmodel.models.fusion import BagClassifier


class TileToBagLogits(nn.Module):
    """Tile pixels ``(B, 3, P, P)`` -> bag class logits ``(B, C)``, tile ``b`` standing in for bag row ``rows[b]``.

    Args:
        model: the trained bag model (eval mode).
        encode: normalised tile -> what the bag holds per tile (pooled features, or layer3 maps).
        features: the bag's cached features (or maps), ``(N, ...)``.
        expression: the sample's per-gene expression, or ``None`` for the image-only model.
    """

    def __init__(self, model: BagClassifier, encode: nn.Module, features: Tensor, expression: Tensor | None):
        super().__init__()
        self.model = model
        self.encode = encode
        self.register_buffer("features", features, persistent=False)
        self.register_buffer("expression", expression, persistent=False)

    def forward(self, tiles: Tensor, rows: Tensor) -> Tensor:
        encoded = self.encode(tiles)
        logits = []
        for b, row in enumerate(rows.tolist()):
            bag = torch.cat([self.features[:row], encoded[b : b + 1].to(self.features.dtype), self.features[row + 1 :]])
            logits.append(self.model(bag, self.expression).logits.log_softmax(-1))
        return torch.stack(logits)


def tile_gradcam(
    model: BagClassifier,
    backbone: torchvision.models.ResNet,
    features: Tensor,
    expression: Tensor | None,
    tiles: np.ndarray,
    rows: np.ndarray,
    target: int,
) -> np.ndarray:
    """Grad-CAM maps of tiles of a bag for class ``target``, upsampled to the tile size.

    Args:
        model: the trained bag model.
        backbone: the ResNet that computed the bag's features (:func:`~leukmodel.features.load_backbone`).
        features: the bag's cached features ``(N, D)`` (or layer3 maps) on the model's device.
        expression: the sample's expression on the model's device, or ``None``.
        tiles: ``(k, P, P, 3)`` uint8 RGB pixels of the tiles to explain.
        rows: ``(k,)`` their rows in the bag.
        target: the class whose score is explained (explanations use the bag's predicted class).

    Returns:
        ``(k, P, P)`` float32, non-negative (Grad-CAM's ReLU), on one scale across the tiles: a larger value is
        a larger contribution to the class score, whichever tile it is in.
    """
    device = features.device
    trunk, head = split_backbone(backbone)
    if model.tile_encoder is not None:
        encode, layer = trunk, model.tile_encoder.layer4
    else:
        encode, layer = nn.Sequential(trunk, head), backbone.layer4
    wrapper = TileToBagLogits(model, encode.to(device), features, expression).eval()
    model.eval()
    inputs = tile_tensor(tiles, device)
    cam = LayerGradCam(wrapper, layer).attribute(
        inputs,
        target=target,
        additional_forward_args=(torch.as_tensor(rows, dtype=torch.long),),
        relu_attributions=False,
    )
    size = tuple(tiles.shape[1:3])
    upsampled = LayerAttribution.interpolate(cam.detach(), size, "bilinear")
    return upsampled[:, 0].float().cpu().numpy()
