"""Feature bags as HDF5 files in the CLAM / TRIDENT layout: datasets ``features`` and ``coords``.

CLAM (``extract_features_fp.py``) and TRIDENT write one file per slide with ``features`` ``(N, D)`` float and
``coords`` ``(N, 2)`` int (top-left ``x, y`` of each patch); TRIDENT adds attributes to ``coords``. The feature
cache stores its entries in the same layout, so its files open in those tools and theirs in leukmodel.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from leukmodel.errors import LeukInputError
from leukmodel.features.atomic import write_atomic

EXPECTED = "an HDF5 bag with datasets 'features' (N x D) and 'coords' (N x 2), as CLAM and TRIDENT write"


class BagFileError(LeukInputError):
    """A feature-bag file that cannot be read: not HDF5, or without the CLAM/TRIDENT datasets."""


def write_h5_bag(
    path: str | PathLike[str],
    features: np.ndarray,
    coords: np.ndarray,
    attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Write a bag atomically: ``features`` ``(N, ...)``, ``coords`` ``(N, 2)`` int64 and file attributes.

    Attribute values may be str, numbers, bools, paths or arrays; ``None`` values are left out.
    """
    features = np.asarray(features)
    coords = np.asarray(coords, dtype=np.int64).reshape(-1, 2)
    if len(features) != len(coords):
        raise ValueError(f"{len(features)} feature rows but {len(coords)} coordinates")
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        handle.create_dataset("features", data=features)
        handle.create_dataset("coords", data=coords)
        for key, value in (attrs or {}).items():
            if value is not None:
                handle.attrs[key] = str(value) if isinstance(value, PathLike) else value
    return write_atomic(Path(path), buffer.getvalue())


def read_h5_bag(path: str | PathLike[str]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read ``features``, ``coords`` (int64) and attributes (the file's, then those on ``coords``).

    A leading singleton axis on ``features`` (``(1, N, D)``, as some CLAM versions save) is dropped.

    Raises:
        BagFileError: the file is missing, not HDF5, or lacks ``features`` / ``coords`` of matching length.
    """
    path = Path(path)
    if not path.is_file():
        raise BagFileError("feature bag not found", file=path, expected=EXPECTED)
    try:
        with h5py.File(path, "r", locking=False) as handle:
            if "features" not in handle or "coords" not in handle:
                raise BagFileError(f"datasets {sorted(handle)} found", file=path, expected=EXPECTED)
            features = handle["features"][()]
            coords = handle["coords"][()]
            attrs = {**_plain(handle["coords"].attrs), **_plain(handle.attrs)}
    except OSError as exc:
        raise BagFileError(f"not a readable HDF5 file ({exc})", file=path, expected=EXPECTED) from None
    if features.ndim == 3 and features.shape[0] == 1 and coords.ndim == 2:
        features = features[0]
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != len(features):
        raise BagFileError(
            f"'features' has shape {features.shape} and 'coords' {coords.shape}", file=path, expected=EXPECTED
        )
    return features, coords.astype(np.int64), attrs


def read_h5_layout(path: str | PathLike[str]) -> tuple[np.ndarray, tuple[int, ...], np.dtype]:
    """``coords`` (int64), and the shape and dtype of ``features`` without reading them.

    Raises:
        BagFileError: as :func:`read_h5_bag`.
    """
    path = Path(path)
    try:
        with h5py.File(path, "r", locking=False) as handle:
            if "features" not in handle or "coords" not in handle:
                raise BagFileError(f"datasets {sorted(handle)} found", file=path, expected=EXPECTED)
            shape, dtype = tuple(handle["features"].shape), handle["features"].dtype
            coords = handle["coords"][()]
    except OSError as exc:
        raise BagFileError(f"not a readable HDF5 file ({exc})", file=path, expected=EXPECTED) from None
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != shape[0]:
        raise BagFileError(f"'features' has shape {shape} and 'coords' {coords.shape}", file=path, expected=EXPECTED)
    return coords.astype(np.int64), shape, dtype


def read_h5_rows(path: str | PathLike[str], rows: np.ndarray | None = None) -> np.ndarray:
    """Rows ``rows`` (strictly increasing indices; all when ``None``) of ``features``: only those are read.

    Raises:
        BagFileError: the file is missing, not HDF5, has no ``features``, or lacks a row asked for.
    """
    path = Path(path)
    try:
        with h5py.File(path, "r", locking=False) as handle:
            if "features" not in handle:
                raise BagFileError(f"datasets {sorted(handle)} found", file=path, expected=EXPECTED)
            return handle["features"][()] if rows is None else handle["features"][rows]
    except (OSError, IndexError) as exc:
        raise BagFileError(f"cannot read its features ({exc})", file=path, expected=EXPECTED) from None


def _plain(attrs: h5py.AttributeManager) -> dict[str, Any]:
    """HDF5 attributes as Python values (bytes decoded, numpy scalars unwrapped)."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out
