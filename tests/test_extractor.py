"""The extractor: exact model input, batched and padded inference, bf16 close to fp32, devices from config."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from leukmodel.config import BackboneConfig, FeaturesConfig
from leukmodel.device import resolve_device
from leukmodel.errors import ConfigError
from leukmodel.features import FeatureExtractor, load_backbone, resolve_precision, tile_tensor
from leukmodel.features.device import bf16_supported

SMALL = BackboneConfig(arch="resnet18", weights="none")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiles() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (7, 64, 64, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def reference(tiles) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features and layer3 maps of a plain fp32 eager torchvision model."""
    model, _ = load_backbone(SMALL)
    model.fc = torch.nn.Identity()
    x = torch.from_numpy(tiles).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    with torch.no_grad():
        maps = model.layer3(model.layer2(model.layer1(model.maxpool(model.relu(model.bn1(model.conv1(x)))))))
        return model(x).numpy(), maps.numpy()


def test_tile_tensor_is_imagenet_normalised_channels_last(tiles):
    x = tile_tensor(tiles)
    assert x.shape == (7, 3, 64, 64) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    expected = (tiles[0, 10, 20] / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(x[0, :, 10, 20].numpy(), expected, rtol=1e-5)


def test_fp32_matches_plain_torchvision(tiles, reference):
    extractor = FeatureExtractor(SMALL, FeaturesConfig(precision="fp32", batch_size=4, device="cpu"))
    pooled, maps = extractor.extract(tiles, layer3=True)
    assert pooled.shape == (7, 512) and pooled.dtype == np.float32
    assert maps.shape == (7, 256, 4, 4) and maps.dtype == np.float16
    np.testing.assert_allclose(pooled, reference[0], rtol=1e-3, atol=1e-4)  # batch norm folded: rounding only
    np.testing.assert_allclose(maps, reference[1], rtol=1e-2, atol=1e-2)  # float16 storage
    assert extractor.forward_passes == 2  # 7 tiles in batches of 4, the last padded


def test_results_do_not_depend_on_batching(tiles):
    extractor = FeatureExtractor(SMALL, FeaturesConfig(precision="fp32", batch_size=4, device="cpu"))
    together = extractor.pooled(tiles)
    alone = np.concatenate([extractor.pooled(tiles[i : i + 1]) for i in range(len(tiles))])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)


def test_bf16_is_close_to_fp32(tiles, reference):
    extractor = FeatureExtractor(SMALL, FeaturesConfig(precision="bf16", batch_size=8, device="cpu"))
    pooled = extractor.pooled(tiles)
    cosine = (pooled * reference[0]).sum(1) / np.linalg.norm(pooled, axis=1) / np.linalg.norm(reference[0], axis=1)
    assert extractor.precision == "bf16" and cosine.min() > 0.995


def test_layer3_alone_and_empty_input(tiles):
    extractor = FeatureExtractor(SMALL, FeaturesConfig(precision="fp32", batch_size=8, device="cpu"))
    assert extractor.layer3(tiles[:2]).shape == (2, 256, 4, 4)
    assert extractor.pooled(tiles[:0]).shape == (0, 512)


def test_devices_from_config():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(ConfigError, match=r"field 'features.device': 'cuda:64' is not available"):
        resolve_device("cuda:64")
    with pytest.raises(ConfigError, match=r"field 'features.device': 'toaster' is not a device"):
        resolve_device("toaster")


def test_precision_auto_follows_the_hardware():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bf16" if bf16_supported(cpu) else "fp32")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
