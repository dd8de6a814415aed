"""The trainable top of the backbone, for fine-tuning layer4 end to end from cached layer3 maps."""

from __future__ import annotations

from torch import Tensor, nn


class Layer4Encoder(nn.Module):
    """Cached layer3 maps (..., C3, h, w) -> layer4 -> global average pool -> (..., D).

    Batch-norm layers keep their pretrained running statistics (they stay in eval mode even while the model
    trains): a bag of tiles from one sample is too small and too homogeneous a batch to estimate them.
    """

    def __init__(self, layer4: nn.Module):
        super().__init__()
        self.layer4 = layer4

    def train(self, mode: bool = True) -> Layer4Encoder:
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self

    def forward(self, maps: Tensor) -> Tensor:
        weight = next(self.layer4.parameters())
        pooled = self.layer4(maps.flatten(0, -4).to(weight.dtype)).mean(dim=(2, 3))
        return pooled.unflatten(0, maps.shape[:-3])
