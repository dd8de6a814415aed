"""The GPU branches that can be checked without a GPU: resource requests for a (declared) GPU count, fractional
GPUs, the autocast dtype a device gets, and a training step under autocast (bf16 runs on any CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import ray
import torch

from leukmodel.config import ModelConfig
from leukmodel.distributed.cluster import trial_resources
from leukmodel.distributed.featurize import n_workers
from leukmodel.errors import ConfigError
from leukmodel.features.device import bf16_supported
from leukmodel.models import build_model
from leukmodel.training import BagItem, fit
from leukmodel.training.precision import autocast_dtype, grad_scaler

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


@pytest.fixture
def ray_with_two_gpus():
    """A real Ray runtime that declares two GPUs (Ray schedules on declared resources; no GPU is touched)."""
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_trials_and_shards_take_gpu_shares_where_the_cluster_has_gpus(tiny, ray_with_two_gpus):
    config = tiny(ray={"gpus_per_trial": 0.5, "cpus_per_trial": 1, "featurize_cpus": 1})
    assert trial_resources(config) == {"cpu": 1.0, "gpu": 0.5}, "two trials share a GPU"
    assert n_workers(config) == 4, "one featurize worker per GPU share"
    config.ray.gpus_per_trial = 1.0
    assert trial_resources(config) == {"cpu": 1.0, "gpu": 1.0} and n_workers(config) == 2
    config.ray.gpus_per_trial = 0.0
    assert trial_resources(config) == {"cpu": 1.0} and n_workers(config) == 2, "CPUs only when asked for no GPU"


def test_cpu_only_cluster_requests_no_gpu(tiny):
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    try:
        assert trial_resources(tiny(ray={"gpus_per_trial": 0.5})) == {"cpu": 1.0}
    finally:
        ray.shutdown()


@pytest.mark.filterwarnings("ignore:torch.cuda.amp.GradScaler is enabled, but CUDA is not available")
@pytest.mark.parametrize("bf16", [True, False])
def test_autocast_dtype_on_cuda_prefers_bf16_then_fp16(monkeypatch, bf16):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
    assert autocast_dtype("auto", CUDA) == (torch.bfloat16 if bf16 else torch.float16)
    assert autocast_dtype("fp16", CUDA) == torch.float16
    assert autocast_dtype("bf16", CUDA) == torch.bfloat16
    assert autocast_dtype("fp32", CUDA) is None
    assert grad_scaler(CUDA, torch.float16).is_enabled() == torch.cuda.is_available()
    assert not grad_scaler(CUDA, torch.bfloat16).is_enabled(), "bf16 needs no loss scaling"


def test_autocast_dtype_on_cpu():
    assert autocast_dtype("auto", CPU) == (torch.bfloat16 if bf16_supported(CPU) else None)
    assert autocast_dtype("bf16", CPU) == torch.bfloat16
    assert autocast_dtype("fp32", CPU) is None
    with pytest.raises(ConfigError, match="field 'training.precision'"):
        autocast_dtype("fp16", CPU)


def test_training_under_bf16_autocast_learns(tiny):
    rng = np.random.default_rng(0)
    direction = torch.from_numpy(rng.normal(size=16).astype(np.float32))
    items = []
    for k in range(48):
        label = k % 2
        features = torch.from_numpy(rng.normal(size=(int(rng.integers(3, 8)), 16)).astype(np.float32))
        items.append(BagItem(f"s{k}", features + 1.5 * (2 * label - 1) * direction, None, label))
    config = tiny(training={"precision": "bf16", "bags_per_step": 8, "max_epochs": 15, "patience": 15, "lr": 1e-3})
    torch.manual_seed(0)
    model = build_model("image", 2, 16, 0, ModelConfig(mil_attention_dim=8, mil_hidden=8))
    history, _ = fit(model, items[:32], items[32:], config, CPU, np.random.default_rng(0))
    assert all(np.isfinite(h["train_loss"]) for h in history)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert max(h["val_accuracy"] for h in history) >= 0.9
