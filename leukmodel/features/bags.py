"""Bags of tile features per sample, read from the feature cache or from CLAM/TRIDENT HDF5 files."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from leukmodel.config import Config
from leukmodel.data.cohort import Cohort
from leukmodel.errors import LeukInputError
from leukmodel.features.cache import DAMAGED, Level, file_digests
from leukmodel.features.featurize import feature_cache
from leukmodel.features.hdf5 import BagFileError, read_h5_bag, read_h5_layout
from leukmodel.features.streamed import StreamedMaps
from leukmodel.preprocessing import NoForegroundError

log = logging.getLogger(__name__)


class MissingFeaturesError(LeukInputError):
    """Features asked for that are not in the cache (or not in ``features.h5_dir``)."""


@dataclass(frozen=True)
class Bag:
    """The tiles of all images of one sample.

    Attributes:
        features: ``(N, D)`` float32 pooled features, or the ``(N, C, h, w)`` float16 layer3 maps left in the
            cache (:class:`~leukmodel.features.streamed.StreamedMaps`, read per batch).
        coords: ``(N, 2)`` int64 ``x, y`` of each tile's top-left corner in its original image.
        image_index: ``(N,)`` int64 index into ``images`` of each tile's image.
        images: the sample's image files (an image without foreground has no tiles).
    """

    features: np.ndarray | StreamedMaps
    coords: np.ndarray
    image_index: np.ndarray
    images: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.features)


class Bags(dict[str, Bag]):
    """``{sample_id: Bag}``; ``skipped`` names the samples left without a single tile, and why."""

    def __init__(self, bags: dict[str, Bag], skipped: dict[str, str]) -> None:
        super().__init__(bags)
        self.skipped = skipped


def load_bags(cohort: Cohort, config: Config, level: Literal["pooled", "layer3"] = "pooled") -> Bags:
    """The bag of every sample with images, from the feature cache (or ``features.h5_dir`` when set).

    Pooled features are read into memory; layer3 maps stay in the cache (:class:`StreamedMaps`: only the entries'
    paths and tile coordinates are read here), so the bags of any cohort size take little memory.

    Images without foreground add no tiles (with ``tiles.on_no_foreground: skip``); a sample left with none
    is not a bag but an entry of ``Bags.skipped``, with the reason.

    Raises:
        MissingFeaturesError: some images have no cache entry for these settings; names them and says to run
            ``leukmodel featurize``.
        NoForegroundError: an image has no foreground and ``tiles.on_no_foreground`` is ``error``.
    """
    start = time.perf_counter()
    paths = [path for sample in cohort.samples for path in sample.images]
    log.info("reading the %s features of %d images", level, len(set(paths)))
    if config.features.h5_dir is not None:
        reader = _H5DirReader(config.features.h5_dir)
    else:
        reader = _CacheReader(config, level, paths)
    found: dict[Path, tuple[np.ndarray, np.ndarray] | str | None] = {}
    for sample in cohort.samples:
        for path in sample.images:
            if path not in found:
                found[path] = reader(path)
    missing = [path for path, entry in found.items() if entry is None]
    if missing:
        raise MissingFeaturesError(
            f"{len(missing)} of {len(found)} image(s) have no {level} features in {reader.where}",
            file=missing[0],
            expected=reader.expected,
        )
    bags: dict[str, Bag] = {}
    skipped: dict[str, str] = {}
    last_use = {path: k for k, sample in enumerate(cohort.samples) for path in sample.images}
    for k, sample in enumerate(cohort.samples):
        parts = [(i, found[path]) for i, path in enumerate(sample.images) if not isinstance(found[path], str)]
        reasons = [f"{path.name}: {found[path]}" for path in sample.images if isinstance(found[path], str)]
        if reasons and config.tiles.on_no_foreground == "error":
            raise NoForegroundError(reasons[0], file=sample.images[0], expected="tiles.on_no_foreground: skip")
        if not sample.images:
            continue
        if not parts:
            skipped[sample.sample_id] = "; ".join(reasons)
            log.warning("sample %s has no tiles: %s", sample.sample_id, skipped[sample.sample_id])
            continue
        bags[sample.sample_id] = Bag(
            features=_joined([entry[0] for _, entry in parts]),
            coords=_joined([entry[1] for _, entry in parts]),
            image_index=np.concatenate([np.full(len(entry[1]), i, np.int64) for i, entry in parts]),
            images=sample.images,
        )
        for path in sample.images:  # an image's arrays live on in its bag only, not twice
            if last_use[path] == k and not isinstance(found[path], str):
                found[path] = None
    tiles = sum(len(bag) for bag in bags.values())
    log.info("%d bags of %d tiles read from %s in %.1f s", len(bags), tiles, reader.where, time.perf_counter() - start)
    return Bags(bags, skipped)


def training_bags(cohort: Cohort, config: Config) -> Bags:
    """The bags training reads under ``config``: streamed layer3 maps with ``training.finetune_layer4``, else
    pooled features."""
    return load_bags(cohort, config, level="layer3" if config.training.finetune_layer4 else "pooled")


def _joined(arrays: list[np.ndarray] | list[StreamedMaps]) -> np.ndarray | StreamedMaps:
    """The arrays of a bag's images end to end; a one-image bag (C-NMC's case) keeps its array, uncopied."""
    if len(arrays) == 1:
        return arrays[0]
    return StreamedMaps.join(arrays) if isinstance(arrays[0], StreamedMaps) else np.concatenate(arrays)


class _CacheReader:
    """An image's cached entry, ``None`` when absent, or the reason it has no foreground.

    The images' digests are computed up front, in threads (:func:`file_digests`).
    """

    def __init__(self, config: Config, level: Level, paths: list[Path]) -> None:
        self.cache = feature_cache(config)
        self.level = level
        self.digests = file_digests(paths)
        precision = self.cache.settings["precision"]
        self.where = f"the cache {self.cache.dir} ({config.backbone.arch}, {config.backbone.weights}, {precision})"
        self.expected = "cached features: run `leukmodel featurize CONFIG` first" + (
            " with features.store_layer3: true" if level == "layer3" else ""
        )

    def __call__(self, path: Path) -> tuple[np.ndarray | StreamedMaps, np.ndarray] | str | None:
        digest = self.digests[path]
        reason = self.cache.no_foreground(digest)
        if reason is not None:
            return reason
        entry = self.cache.path(digest, self.level)
        if not entry.is_file():
            return None
        if self.level == "pooled":
            read = self.cache.read(digest, self.level)
            return read.features, read.coords
        try:
            coords, shape, dtype = read_h5_layout(entry)
        except BagFileError as exc:
            raise BagFileError(f"damaged cache entry: {exc.problem}", file=exc.file, expected=DAMAGED) from None
        return StreamedMaps((entry,), (shape[0],), tuple(shape[1:]), dtype), coords


class _H5DirReader:
    """An image's CLAM/TRIDENT bag ``<h5_dir>/<image stem>.h5``, or ``None`` when absent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.where = f"features.h5_dir ({folder})"
        self.expected = "a CLAM/TRIDENT bag <image stem>.h5 for every image"

    def __call__(self, path: Path) -> tuple[np.ndarray, np.ndarray] | None:
        bag = self.folder / f"{path.stem}.h5"
        if not bag.is_file():
            return None
        features, coords, _ = read_h5_bag(bag)
        return features, coords
