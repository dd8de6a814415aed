"""Mixed precision of training and prediction: which autocast dtype a device gets, and the gradient scaler."""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch

from leukmodel.errors import ConfigError
from leukmodel.features.device import bf16_supported


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``training.precision`` on ``device``, ``None`` for plain fp32.

    ``auto``: bf16 where the device has it natively (CUDA with bf16, a CPU with AVX512-BF16/AMX), fp16 on other
    CUDA devices, else fp32. ``fp16`` is for CUDA only (CPUs have no fast fp16 matmul).
    """
    if precision == "fp32":
        return None
    if precision == "auto":
        if bf16_supported(device):
            return torch.bfloat16
        return torch.float16 if device.type == "cuda" else None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16" and device.type == "cuda":
        return torch.float16
    raise ConfigError(
        f"precision '{precision}' on {device.type}",
        field="training.precision",
        expected="fp32, auto, bf16, or fp16 on CUDA",
    )


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager:
    """``torch.autocast`` for ``dtype`` on ``device`` (disabled for ``None``)."""
    return torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A gradient scaler, active for fp16 only (bf16 has fp32's range and needs none; fp16 is CUDA only)."""
    enabled = dtype == torch.float16
    return torch.amp.GradScaler(device.type if enabled else "cpu", enabled=enabled)
