"""Choosing the compute device and the inference precision from the config and the hardware."""

from __future__ import annotations

from typing import Literal

import torch

from leukmodel.errors import ConfigError

Precision = Literal["bf16", "fp32"]


def resolve_device(spec: str, *, field: str = "features.device") -> torch.device:
    """The device named by ``spec``: ``auto`` (CUDA, then Apple MPS, then CPU), ``cpu``, ``cuda``, ``cuda:N``, ``mps``.

    Raises:
        ConfigError: the spec is not a device, or that device is not available here (names ``field``).
    """
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"'{spec}' is not a device", field=field, expected="auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise ConfigError(
                f"'{spec}' is not available ({count} CUDA device(s) here)", field=field, expected="auto or cpu"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("'mps' is not available here", field=field, expected="auto or cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device type '{device.type}' is not supported", field=field, expected="cpu, cuda or mps")
    return device


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
