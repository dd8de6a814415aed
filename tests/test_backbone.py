"""The backbone: weights from torchvision's cache, a local file or none; frozen to layer3; its identity."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
import torch
import torchvision

from leukmodel.config import BackboneConfig
from leukmodel.errors import ConfigError
from leukmodel.features import load_backbone, split_backbone


@pytest.fixture()
def offline_hub(tmp_path, monkeypatch):
    """An empty torchvision weights cache and no route to the internet (a proxy that refuses connections).

    urllib builds its global opener, proxies included, on the first ``urlopen`` of the process; it is reset here so
    the refusing proxy neither comes from an earlier opener nor outlives this test (the loopback tests use their
    own proxy-free opener, ``tests/loopback.py``, but other code in the session may ``urlopen``).
    """
    monkeypatch.setattr(urllib.request, "_opener", None)
    hub = tmp_path / "hub"
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(hub))
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    yield hub
    torch.hub.set_dir(old)


def test_random_weights_frozen_to_layer3():
    model, info = load_backbone(BackboneConfig(arch="resnet18", weights="none"))
    assert isinstance(model, torchvision.models.ResNet) and not model.training
    assert (info.arch, info.weights, info.pretrained, info.feature_dim, info.layer3_channels) == (
        "resnet18",
        "none",
        False,
        512,
        256,
    )
    for name in ("conv1", "bn1", "layer1", "layer2", "layer3"):
        assert not any(p.requires_grad for p in getattr(model, name).parameters()), name
    assert all(p.requires_grad for p in model.layer4.parameters())
    assert info.tags()["pretrained"] == "false"


def test_resnet50_dimensions():
    _, info = load_backbone(BackboneConfig(weights="none"))
    assert (info.arch, info.feature_dim, info.layer3_channels) == ("resnet50", 2048, 1024)


def test_random_weights_are_reproducible_and_identified_by_seed():
    _, first = load_backbone(BackboneConfig(arch="resnet18", weights="none", seed=1))
    _, again = load_backbone(BackboneConfig(arch="resnet18", weights="none", seed=1))
    _, other = load_backbone(BackboneConfig(arch="resnet18", weights="none", seed=2))
    assert first.weights_sha256 == again.weights_sha256 != other.weights_sha256


def test_trunk_and_head_give_the_pooled_features():
    model, _ = load_backbone(BackboneConfig(arch="resnet18", weights="none"))
    trunk, head = split_backbone(model)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        maps = trunk(x)
        model.fc = torch.nn.Identity()
        torch.testing.assert_close(head(maps), model(x))
    assert maps.shape == (2, 256, 4, 4)


def test_local_state_dict_is_loaded_and_identified(tmp_path):
    source, _ = load_backbone(BackboneConfig(arch="resnet18", weights="none", seed=5))
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)
    model, info = load_backbone(BackboneConfig(arch="resnet18", weights=str(path)))
    _, same = load_backbone(BackboneConfig(arch="resnet18", weights="none", seed=5))
    assert info.pretrained and info.weights == str(path)
    assert info.weights_sha256 == same.weights_sha256
    torch.testing.assert_close(model.layer4[0].conv1.weight, source.layer4[0].conv1.weight)


def test_local_file_without_classifier_is_accepted(tmp_path):
    source, _ = load_backbone(BackboneConfig(arch="resnet18", weights="none", seed=5))
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("fc.")}
    torch.save({"state_dict": state}, tmp_path / "trunk.pt")
    _, info = load_backbone(BackboneConfig(arch="resnet18", weights=str(tmp_path / "trunk.pt")))
    _, same = load_backbone(BackboneConfig(arch="resnet18", weights="none", seed=5))
    assert info.weights_sha256 == same.weights_sha256  # fc is not part of the feature extractor's identity


def test_local_file_for_another_arch_is_named(tmp_path):
    small, _ = load_backbone(BackboneConfig(arch="resnet18", weights="none"))
    torch.save(small.state_dict(), tmp_path / "r18.pt")
    with pytest.raises(ConfigError, match=r"r18\.pt, field 'backbone.weights': 'layer1.0.conv1.weight' has shape"):
        load_backbone(BackboneConfig(arch="resnet50", weights=str(tmp_path / "r18.pt")))


def test_local_file_with_wrong_keys_is_named(tmp_path):
    torch.save({"encoder.weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match=r"other\.pt.*keys do not match the model"):
        load_backbone(BackboneConfig(arch="resnet18", weights=str(tmp_path / "other.pt")))


def test_local_file_is_loaded_with_weights_only(tmp_path):
    torch.save({"conv1.weight": torch.zeros(1), "origin": Path("/somewhere")}, tmp_path / "pickle.pt")
    with pytest.raises(ConfigError, match=r"pickle\.pt.*cannot be read as a file of tensors only"):
        load_backbone(BackboneConfig(arch="resnet18", weights=str(tmp_path / "pickle.pt")))


def test_missing_local_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"absent\.pt, field 'backbone.weights': weights file not found"):
        load_backbone(BackboneConfig(arch="resnet18", weights=str(tmp_path / "absent.pt")))


def test_offline_without_cached_imagenet_weights_says_how_to_provide_them(offline_hub):
    with pytest.raises(ConfigError) as caught:
        load_backbone(BackboneConfig(arch="resnet18", weights="imagenet"))
    message = str(caught.value)
    assert "ImageNet weights for resnet18 are not in torchvision's cache" in message
    assert "resnet18-f37072fd.pth" in message and str(offline_hub / "checkpoints") in message
    assert "backbone.weights: none" in message and "local state-dict file" in message


def test_imagenet_weights_come_from_torchvision_cache(offline_hub):
    source, _ = load_backbone(BackboneConfig(arch="resnet18", weights="none", seed=9))
    (offline_hub / "checkpoints").mkdir(parents=True)
    torch.save(source.state_dict(), offline_hub / "checkpoints" / "resnet18-f37072fd.pth")
    _, info = load_backbone(BackboneConfig(arch="resnet18", weights="imagenet"))
    _, same = load_backbone(BackboneConfig(arch="resnet18", weights="none", seed=9))
    assert info.pretrained and info.weights == "imagenet" and "IMAGENET1K_V1" in info.source
    assert info.weights_sha256 == same.weights_sha256
