"""Choosing the inference precision of feature extraction from the config and the device."""

from __future__ import annotations

from typing import Literal

import torch

from leukmodel.errors import ConfigError

Precision = Literal["bf16", "fp32"]


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 convolutions natively (CUDA with bf16, or a CPU with AVX512-BF16/AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return False


def resolve_precision(precision: str, device: torch.device) -> Precision:
    """``auto`` becomes ``bf16`` where the device has native bfloat16, else ``fp32``; explicit values stay."""
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    if precision not in ("bf16", "fp32"):
        raise ConfigError(f"unknown precision '{precision}'", field="features.precision", expected="auto, bf16 or fp32")
    return precision  # type: ignore[return-value]
