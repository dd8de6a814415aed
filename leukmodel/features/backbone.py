"""The tile encoder: a torchvision ResNet with ImageNet, local or no pretrained weights.

The stem and stages 1-3 are frozen (their output, the layer3 maps, can be cached); layer4 stays trainable for
fine-tuning on cached layer3 maps.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn

from leukmodel.config.features import BackboneConfig
from leukmodel.errors import ConfigError

FROZEN = ("conv1", "bn1", "layer1", "layer2", "layer3")
"""Modules of a torchvision ResNet that are frozen (weights fixed, batch norm in eval mode)."""


@dataclass(frozen=True)
class BackboneInfo:
    """What a backbone is, for the cache key and for run tags.

    Attributes:
        arch: torchvision architecture, e.g. ``resnet50``.
        weights: ``imagenet``, ``none`` or the local file's path.
        source: where the weights came from, in words (torchvision weights name, file, or random seed).
        pretrained: whether the weights were trained (ImageNet or a local file) rather than random.
        weights_sha256: SHA-256 of the feature-extracting weights (everything but the classifier ``fc``).
        feature_dim: length of a pooled feature vector (2048 for resnet50, 512 for resnet18).
        layer3_channels: channels of the layer3 maps (1024 for resnet50, 256 for resnet18).
    """

    arch: str
    weights: str
    source: str
    pretrained: bool
    weights_sha256: str
    feature_dim: int
    layer3_channels: int

    def tags(self) -> dict[str, str]:
        """Run tags (MLflow): which backbone, whether pretrained, and its weights' identity."""
        return {
            "backbone": self.arch,
            "backbone_weights": self.weights,
            "pretrained": str(self.pretrained).lower(),
            "backbone_sha256": self.weights_sha256[:16],
        }


def load_backbone(cfg: BackboneConfig) -> tuple[torchvision.models.ResNet, BackboneInfo]:
    """Build the configured ResNet with its weights, stages 1-3 frozen, in eval mode.

    Raises:
        ConfigError: ImageNet weights are neither cached nor downloadable (the message says how to provide
            them), or a local weights file is missing, not a plain state dict, or does not fit the architecture.
    """
    if cfg.weights == "none":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = torchvision.models.get_model(cfg.arch, weights=None)
        weights, source, pretrained = "none", f"random initialisation, seed {cfg.seed}", False
    elif cfg.weights == "imagenet":
        model = torchvision.models.get_model(cfg.arch, weights=None)
        enum = torchvision.models.get_model_weights(cfg.arch).DEFAULT
        model.load_state_dict(_imagenet_state_dict(cfg.arch, enum))
        weights, source, pretrained = "imagenet", f"torchvision {type(enum).__name__}.{enum.name}", True
    else:
        model = torchvision.models.get_model(cfg.arch, weights=None)
        _load_local(model, Path(cfg.weights))
        weights, source, pretrained = str(cfg.weights), f"file {cfg.weights}", True
    freeze(model)
    info = BackboneInfo(
        arch=cfg.arch,
        weights=weights,
        source=source,
        pretrained=pretrained,
        weights_sha256=weights_sha256(model),
        feature_dim=model.fc.in_features,
        layer3_channels=model.layer4[0].conv1.in_channels,
    )
    return model, info


def freeze(model: torchvision.models.ResNet) -> None:
    """Freeze the stem and stages 1-3 and put the model in eval mode (layer4 and ``fc`` stay trainable)."""
    for name in FROZEN:
        getattr(model, name).requires_grad_(False)
    model.eval()


def split_backbone(model: torchvision.models.ResNet) -> tuple[nn.Sequential, nn.Sequential]:
    """The frozen trunk (image -> layer3 maps) and the head (layer3 maps -> pooled features) of a ResNet.

    Both share the model's modules (no copy): fine-tuning the head trains ``model.layer4``.
    """
    trunk = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool, model.layer1, model.layer2, model.layer3)
    head = nn.Sequential(model.layer4, model.avgpool, nn.Flatten(1))
    return trunk, head


def weights_sha256(model: nn.Module) -> str:
    """SHA-256 over the names, dtypes, shapes and values of the state dict, without the classifier ``fc``."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if name.startswith("fc."):
            continue
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy() if tensor.numel() else b"")
    return digest.hexdigest()


def _imagenet_state_dict(arch: str, enum: torchvision.models.WeightsEnum) -> dict[str, torch.Tensor]:
    """The ImageNet weights from torchvision's cache, downloading them once when there is network access."""
    filename = Path(urlparse(enum.url).path).name
    cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
    try:
        return enum.get_state_dict(progress=False, check_hash=True)
    except OSError as exc:  # URLError and socket errors are OSErrors
        raise ConfigError(
            f"ImageNet weights for {arch} are not in torchvision's cache ({cached}) and cannot be downloaded "
            f"({getattr(exc, 'reason', exc)})",
            field="backbone.weights",
            expected=(
                f"the weights file: run once with internet access, or copy {filename} (from {enum.url}) to "
                f"{cached.parent} (TORCH_HOME moves it); or set backbone.weights to a local state-dict file; "
                "or backbone.weights: none (random initialisation, runs tagged pretrained=false)"
            ),
        ) from None


def _load_local(model: nn.Module, path: Path) -> None:
    """Load a state dict file into ``model``, checking every name and shape (``fc`` may be absent)."""
    expected = "a torch state dict for the configured arch (torch.save(model.state_dict(), path))"
    if not path.is_file():
        raise ConfigError("weights file not found", file=path, field="backbone.weights", expected=expected)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError or EOFError depending on the damage
        raise ConfigError(
            f"cannot be read as a file of tensors only ({type(exc).__name__}); leukmodel never runs pickled code "
            "from a weights file",
            file=path,
            field="backbone.weights",
            expected=expected,
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError("file holds no state dict", file=path, field="backbone.weights", expected=expected)
    own = model.state_dict()
    unexpected = sorted(set(state) - set(own))
    missing = sorted(k for k in set(own) - set(state) if not k.startswith("fc."))
    wrong = [k for k in state if k in own and state[k].shape != own[k].shape]
    if unexpected or missing or wrong:
        if wrong:
            key = wrong[0]
            problem = f"'{key}' has shape {tuple(state[key].shape)}, the model needs {tuple(own[key].shape)}"
        else:
            problem = f"keys do not match the model: missing {missing[:3]}, unexpected {unexpected[:3]}"
        raise ConfigError(problem, file=path, field="backbone.weights", expected=expected)
    model.load_state_dict(state, strict=False)
