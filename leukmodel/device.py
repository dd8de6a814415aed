"""Choosing the torch device a config names, checked against this machine's hardware."""

from __future__ import annotations

import torch

from leukmodel.errors import ConfigError


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
