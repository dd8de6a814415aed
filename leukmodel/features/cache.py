"""The content-addressed feature cache shared by every flow, fold, model and trial.

Layout under ``features.cache_dir``::

    <settings key>/settings.json                   what the key stands for (tiling, backbone, precision)
    <settings key>/pooled/<ab>/<image sha256>.h5   pooled features (N, D) float32 + coords (N, 2)
    <settings key>/layer3/<ab>/<image sha256>.h5   layer3 maps (N, C, h, w) float16 + coords
    <settings key>/no-foreground/<ab>/<image sha256>.json  an image without foreground, and why
    cache-id                                       this folder's identity (:func:`cache_identity`)

An entry is found by the SHA-256 of the image file's bytes (not its path or name) under the key of everything
else that changes the features: tiling and masking parameters, the normalisation, the backbone's architecture
and weights hash, and the precision (bf16 features differ from fp32 ones in the third digit). Batch size,
workers, device and the cache's location do not change the features and are not part of the key. Entries are
HDF5 in the CLAM/TRIDENT layout, written atomically, so a killed run leaves only complete entries and several
processes may fill the cache at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np

from leukmodel.config.features import TilesConfig
from leukmodel.errors import ImageError
from leukmodel.features.atomic import TMP_SUFFIX, remove_orphans, write_atomic
from leukmodel.features.backbone import BackboneInfo
from leukmodel.features.extractor import IMAGENET_MEAN, IMAGENET_STD
from leukmodel.features.hdf5 import BagFileError, read_h5_bag, write_h5_bag
from leukmodel.preprocessing.foreground import FOREGROUND_METHOD

DAMAGED = (
    "an intact entry: delete this file (the cache never deletes what it cannot read) and run leukmodel featurize "
    "again to recompute it"
)

CACHE_FORMAT = 1
Level = Literal["pooled", "layer3"]


def cache_settings(tiles: TilesConfig, backbone: BackboneInfo, precision: str) -> dict[str, Any]:
    """Everything besides the image bytes that determines an image's features."""
    return {
        "format": CACHE_FORMAT,
        "foreground": FOREGROUND_METHOD,
        "tiles": {
            "patch_size": tiles.patch_size,
            "overlap": tiles.overlap,
            "min_foreground": tiles.min_foreground,
            "small_image": tiles.small_image,
        },
        "normalisation": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        "backbone": {"arch": backbone.arch, "weights_sha256": backbone.weights_sha256},
        "precision": precision,
    }


def file_sha256(path: str | PathLike[str]) -> str:
    """SHA-256 of a file's bytes: the content part of a cache entry's key. Read in 1 MB chunks."""
    path = Path(path)
    if not path.is_file():
        raise ImageError("image file not found", file=path)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_digests(paths: Iterable[str | PathLike[str]], workers: int | None = None) -> dict[Path, str]:
    """:func:`file_sha256` of each file, in order, hashed in ``workers`` threads (default: the cores, at most 8).

    Reading and hashing leave the GIL free, so threads hash at the pace of the disk and the cores: a cohort's
    images are hashed on every ``featurize`` and ``load_bags`` (C-NMC: 15,135 files, 9 GB).

    Raises:
        ImageError: the first file, in order, that does not exist.
    """
    unique = list(dict.fromkeys(Path(p) for p in paths))
    workers = workers or min(8, os.cpu_count() or 1)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="file-sha256")
    try:
        return dict(zip(unique, pool.map(file_sha256, unique), strict=True))
    finally:
        pool.shutdown(cancel_futures=True)  # after an error, the files not yet hashed are not hashed for nothing


@dataclass(frozen=True)
class CacheEntry:
    """One image's cached tiles: features (or layer3 maps), their coordinates and the entry's attributes."""

    features: np.ndarray
    coords: np.ndarray
    attrs: dict[str, Any]


def cache_identity(root: str | PathLike[str]) -> str:
    """A random id written once into the cache folder ``root`` (created if absent) and read back ever after.

    A cache folder that is deleted and made again gets a new id, so whatever remembers "this cache was filled"
    (the Prefect task cache of the featurize step) can tell that folder from the one it filled.
    """
    path = Path(root) / "cache-id"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".cache-id.{os.getpid()}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")
        tmp.write_text(uuid.uuid4().hex)
        try:
            os.link(tmp, path)  # creates the id only if no other process did first
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip()


class FeatureCache:
    """The entries of one settings key under a cache folder.

    Args:
        root: the cache folder (``features.cache_dir``).
        settings: :func:`cache_settings` of the run.
    """

    def __init__(self, root: str | PathLike[str], settings: dict[str, Any]) -> None:
        self.settings = settings
        blob = json.dumps(settings, sort_keys=True).encode()
        self.key = hashlib.sha256(blob).hexdigest()[:16]
        self.dir = Path(root) / self.key

    def prepare(self) -> None:
        """Create the folder, record what its key stands for, and clear files of killed writers."""
        settings = self.dir / "settings.json"
        if not settings.is_file():
            write_atomic(settings, json.dumps(self.settings, indent=2, sort_keys=True).encode())
        remove_orphans(self.dir)

    def path(self, digest: str, level: Level) -> Path:
        return self.dir / level / digest[:2] / f"{digest}.h5"

    def no_foreground_path(self, digest: str) -> Path:
        return self.dir / "no-foreground" / digest[:2] / f"{digest}.json"

    def has(self, digest: str, levels: tuple[Level, ...]) -> bool:
        """Whether the image's features at all ``levels`` are cached, or it is known to have no foreground."""
        return self.no_foreground_path(digest).is_file() or all(self.path(digest, level).is_file() for level in levels)

    def no_foreground(self, digest: str) -> str | None:
        """Why the image has no tiles (no foreground found), or ``None`` when it has tiles.

        Raises:
            BagFileError: the record is damaged (not the JSON the cache writes).
        """
        path = self.no_foreground_path(digest)
        if not path.is_file():
            return None
        try:
            return str(json.loads(path.read_text())["reason"])
        except (OSError, ValueError, KeyError, TypeError):
            raise BagFileError(
                "damaged cache entry (not the JSON the cache writes)", file=path, expected=DAMAGED
            ) from None

    def write(self, digest: str, level: Level, features: np.ndarray, coords: np.ndarray, attrs: dict[str, Any]) -> Path:
        return write_h5_bag(self.path(digest, level), features, coords, {**attrs, "settings_key": self.key})

    def write_no_foreground(self, digest: str, source: Path, reason: str) -> Path:
        record = {"image": str(source), "image_sha256": digest, "reason": reason}
        return write_atomic(self.no_foreground_path(digest), json.dumps(record, indent=2).encode())

    def read(self, digest: str, level: Level) -> CacheEntry:
        """The entry of an image.

        Raises:
            BagFileError: the entry is missing or damaged.
        """
        try:
            features, coords, attrs = read_h5_bag(self.path(digest, level))
        except BagFileError as exc:
            raise BagFileError(f"damaged cache entry: {exc.problem}", file=exc.file, expected=DAMAGED) from None
        return CacheEntry(features, coords, attrs)
