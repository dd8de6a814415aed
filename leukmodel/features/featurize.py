"""Filling the feature cache for a list of image files: decode and tile in workers, encode in full batches."""

from __future__ import annotations

import hashlib
import json
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from leukmodel.config import Config, TilesConfig
from leukmodel.data.images import decode_rgb
from leukmodel.device import resolve_device
from leukmodel.errors import ImageError, LeukInputError
from leukmodel.features.backbone import BackboneInfo, load_backbone
from leukmodel.features.cache import FeatureCache, Level, cache_identity, cache_settings, file_digests
from leukmodel.features.device import resolve_precision
from leukmodel.features.extractor import FeatureExtractor
from leukmodel.preprocessing import NO_FOREGROUND_EXPECTED, NoForegroundError, Tiles, tile_image

#: Encoded images waiting for their cache write at most (see ``_compute``).
_PENDING = 64


@dataclass(frozen=True)
class SkippedImage:
    """An image left out of its bag, and why."""

    path: Path
    reason: str


@dataclass
class FeaturizeReport:
    """What one :func:`featurize` call did.

    Attributes:
        backbone: the backbone that encoded the tiles (``pretrained`` says whether its weights were trained).
        precision: ``bf16`` or ``fp32``.
        device: where the backbone ran.
        cache_dir: the cache folder of these settings (``<features.cache_dir>/<settings key>``).
        images: distinct images (by content) asked for.
        hits: images whose features were already cached (or whose skip was recorded).
        misses: images computed in this call.
        tiles: tiles encoded in this call.
        forward_passes: batches run through the backbone in this call.
        skipped: images without foreground, left out (``tiles.on_no_foreground: skip``).
        seconds: wall time of the call.
    """

    backbone: BackboneInfo
    precision: str
    device: str
    cache_dir: Path
    images: int = 0
    hits: int = 0
    misses: int = 0
    tiles: int = 0
    forward_passes: int = 0
    skipped: list[SkippedImage] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        weights = f"{self.backbone.weights}, {'pretrained' if self.backbone.pretrained else 'NOT pretrained'}"
        rate = f", {self.tiles / self.seconds:.1f} tiles/s" if self.tiles and self.seconds else ""
        lines = [
            f"{self.images} images: {self.hits} cached, {self.misses} computed "
            f"({self.tiles} tiles, {self.forward_passes} forward passes{rate}) in {self.seconds:.1f} s",
            f"backbone {self.backbone.arch} ({weights}), {self.precision} on {self.device}",
            f"cache {self.cache_dir}",
        ]
        lines += [f"skipped {s.path}: {s.reason}" for s in self.skipped]
        return "\n".join(lines)


def feature_cache(config: Config, info: BackboneInfo | None = None, precision: str | None = None) -> FeatureCache:
    """The cache entries for ``config``'s settings: the one place the cache key is derived (featurize, load_bags and
    the featurize step's Prefect cache key use it). ``info`` and ``precision`` default to the configured backbone's
    and precision; give them when a loaded extractor decides them."""
    if info is None:
        info = load_backbone(config.backbone)[1]
    if precision is None:
        precision = resolve_precision(config.features.precision, resolve_device(config.features.device))
    return FeatureCache(config.features.cache_dir, cache_settings(config.tiles, info, precision))


def featurization_key(images: Sequence[Path], config: Config) -> str:
    """What decides whether featurizing ``images`` has work to do: the images (path, size, modification time), the
    feature cache's own key (:func:`feature_cache`: tiling, foreground method, cache format, backbone weights hash,
    precision), the levels stored, and the cache folder with its identity (a deleted and remade cache folder is
    another folder). Two calls with one key find the same features cached (the featurize step's Prefect cache)."""
    digest = hashlib.sha256()
    for path in sorted(images):
        stat = path.stat()
        digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns};".encode())
    settings = {
        "feature_cache": feature_cache(config).key,
        "store_layer3": "layer3" in stored_levels(config),
        "cache_dir": str(config.features.cache_dir),
        "cache_id": cache_identity(config.features.cache_dir),
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


def stored_levels(config: Config) -> tuple[Level, ...]:
    """The cache levels featurize fills: pooled features, and layer3 maps with ``features.store_layer3`` or
    ``training.finetune_layer4`` (which trains from them)."""
    return ("pooled", "layer3") if config.features.store_layer3 or config.training.finetune_layer4 else ("pooled",)


def featurize(
    images: Sequence[str | PathLike[str]],
    config: Config,
    progress: bool = True,
    *,
    extractor: FeatureExtractor | None = None,
) -> FeaturizeReport:
    """Fill the feature cache for ``images``: compute only what is missing, skip what is cached.

    Safe to run again after a crash (completed entries are kept, nothing partial is ever read), on any subset
    of a cohort, and from several processes at once on one cache folder. Images are decoded and tiled in
    ``features.num_workers`` DataLoader workers while the backbone encodes; tiles of successive images are
    packed into full batches of ``features.batch_size``. Pass ``extractor`` to reuse a loaded backbone (its
    precision and device then apply).

    Raises:
        ImageError: an image is missing or unusable (corrupt, grayscale, 16-bit, too small with
            ``small_image: reject``), or has no foreground with ``on_no_foreground: error``. Entries completed
            before the error stay in the cache.
    """
    start = time.perf_counter()
    loaded = None
    if extractor is None:  # the backbone's identity is needed for the cache key; its inference copy only for misses
        loaded = load_backbone(config.backbone)
        info, device = loaded[1], resolve_device(config.features.device)
        precision = resolve_precision(config.features.precision, device)
    else:
        info, device, precision = extractor.info, extractor.device, extractor.precision
    cache = feature_cache(config, info, precision)
    cache.prepare()
    levels = stored_levels(config)
    report = FeaturizeReport(info, precision, str(device), cache.dir)

    contents: dict[str, Path] = {}
    for path, digest in file_digests(images).items():
        contents.setdefault(digest, path)
    report.images = len(contents)
    todo: list[Path] = []
    for digest, path in contents.items():
        if not cache.has(digest, levels):
            todo.append(path)
            continue
        report.hits += 1
        reason = cache.no_foreground(digest)
        if reason is not None and config.tiles.on_no_foreground == "error":
            raise NoForegroundError(reason, file=path, expected=NO_FOREGROUND_EXPECTED)
        if reason is not None:
            report.skipped.append(SkippedImage(path, reason))
    if todo:
        extractor = extractor or FeatureExtractor(config.backbone, config.features, loaded=loaded)
        passes_before = extractor.forward_passes
        _compute(todo, config, extractor, cache, levels, report, progress)
        report.forward_passes = extractor.forward_passes - passes_before
    report.seconds = time.perf_counter() - start
    return report


def _compute(
    todo: list[Path],
    config: Config,
    extractor: FeatureExtractor,
    cache: FeatureCache,
    levels: tuple[Level, ...],
    report: FeaturizeReport,
    progress: bool,
) -> None:
    """Encode the images in ``todo`` into the cache, counting into ``report``.

    Entries are written by a background thread (HDF5 encoding, write, fsync) while the backbone runs on. At
    most ``_PENDING`` wait for it (the encoder then waits for the oldest), and they hold their features, not
    their tile images: where writes are slower than the backbone (a GPU), the backlog stays bounded.
    """
    start = time.perf_counter()
    packer = _Packer(extractor, layer3="layer3" in levels)
    writes: deque[Future] = deque()
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="feature-cache-writer") as writer,
        tqdm(total=len(todo), desc="featurize", unit="img", disable=not progress) as bar,
    ):

        def store(jobs: list[_Job]) -> None:
            for job in jobs:
                writes.append(writer.submit(_store, cache, _Entry.of(job), levels))
                report.misses += 1
                report.tiles += len(job.tiles)
                bar.update()
                while len(writes) > _PENDING:
                    writes.popleft().result()  # a failed write (disk full, permissions) is raised here

        for item in _loader(todo, config, extractor.device):
            if item.tiles is not None:
                store(packer.add(item))
                bar.set_postfix(tiles_per_s=f"{report.tiles / (time.perf_counter() - start):.1f}", refresh=False)
                continue
            if isinstance(item.error, NoForegroundError):
                cache.write_no_foreground(item.digest, item.path, item.error.problem)
                if config.tiles.on_no_foreground == "skip":
                    report.skipped.append(SkippedImage(item.path, item.error.problem))
                    report.misses += 1
                    bar.update()
                    continue
            store(packer.flush())  # the images read before the bad one are finished (the writer drains on exit)
            raise item.error
        store(packer.flush())
    for write in writes:
        write.result()


@dataclass(frozen=True)
class _Item:
    """One image read, hashed, decoded and tiled by a worker, or the input error that stopped it.

    Pickled, its tile images travel as a tensor, which a DataLoader worker hands over in shared memory
    instead of copying through its pipe (1.3 MB for a C-NMC image): 1.5x the items per second from two
    workers on a 2-core CPU, and half the main process's time per item.
    """

    path: Path
    digest: str
    tiles: Tiles | None = None
    error: LeukInputError | None = None

    def __reduce__(self) -> tuple:
        if self.tiles is None:
            return _Item, (self.path, self.digest, None, self.error)
        tiles = self.tiles
        shared = torch.from_numpy(tiles.images)
        return _unpickle_item, (self.path, self.digest, shared, tiles.coords, tiles.foreground, tiles.image_size)


def _unpickle_item(
    path: Path,
    digest: str,
    images: torch.Tensor,
    coords: np.ndarray,
    foreground: np.ndarray,
    image_size: tuple[int, int],
) -> _Item:
    return _Item(path, digest, Tiles(images.numpy(), coords, foreground, image_size))


@dataclass
class _Job:
    """One image's tiles on their way through the backbone."""

    path: Path
    digest: str
    tiles: Tiles
    pooled: np.ndarray
    maps: np.ndarray | None = None
    sent: int = 0


class _TileDataset(Dataset):
    """Reads, hashes, decodes and tiles one image per item.

    Input errors are returned, not raised: the main process then skips or stops as configured and raises the
    error itself, whole, instead of DataLoader's re-wrapped copy of it.
    """

    def __init__(self, paths: list[Path], tiles: TilesConfig) -> None:
        self.paths = paths
        self.tiles = tiles

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> _Item:
        path = self.paths[index]
        try:
            data = path.read_bytes()
        except OSError as exc:
            return _Item(path, "", error=ImageError(f"cannot read the file ({exc.strerror})", file=path))
        digest = hashlib.sha256(data).hexdigest()
        try:
            return _Item(path, digest, tiles=tile_image(decode_rgb(data, path), self.tiles, path))
        except LeukInputError as exc:
            return _Item(path, digest, error=exc)


def _loader(paths: list[Path], config: Config, device: torch.device) -> DataLoader:
    workers = min(config.features.num_workers, len(paths))
    return DataLoader(
        _TileDataset(paths, config.tiles),
        batch_size=None,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers else None,
    )


class _Packer:
    """Packs the tiles of successive images into full batches and hands back the images that are done.

    Batches span image boundaries, so every forward pass but the very last has ``batch_size`` real tiles.
    """

    def __init__(self, extractor: FeatureExtractor, layer3: bool) -> None:
        self.extractor = extractor
        self.layer3 = layer3
        self.jobs: deque[_Job] = deque()
        self.queued = 0

    def add(self, item: _Item) -> list[_Job]:
        pooled = np.empty((len(item.tiles), self.extractor.info.feature_dim), np.float32)
        self.jobs.append(_Job(item.path, item.digest, item.tiles, pooled))
        self.queued += len(item.tiles)
        while self.queued >= self.extractor.batch_size:
            self._encode(self.extractor.batch_size)
        return self._done()

    def flush(self) -> list[_Job]:
        if self.queued:
            self._encode(self.queued)
        return self._done()

    def _encode(self, count: int) -> None:
        parts: list[tuple[_Job, int, int]] = []
        needed = count
        for job in self.jobs:
            take = min(len(job.tiles) - job.sent, needed)
            if take:
                parts.append((job, job.sent, job.sent + take))
                job.sent += take
                needed -= take
            if not needed:
                break
        batch = np.concatenate([job.tiles.images[a:b] for job, a, b in parts])
        pooled, maps = self.extractor.extract(batch, layer3=self.layer3)
        offset = 0
        for job, a, b in parts:
            job.pooled[a:b] = pooled[offset : offset + b - a]
            if maps is not None:
                if job.maps is None:
                    job.maps = np.empty((len(job.tiles), *maps.shape[1:]), maps.dtype)
                job.maps[a:b] = maps[offset : offset + b - a]
            offset += b - a
        self.queued -= count

    def _done(self) -> list[_Job]:
        done = []
        while self.jobs and self.jobs[0].sent == len(self.jobs[0].tiles):
            done.append(self.jobs.popleft())
        return done


@dataclass(frozen=True)
class _Entry:
    """What a cache write needs of an encoded image (not its tile images)."""

    digest: str
    pooled: np.ndarray
    maps: np.ndarray | None
    coords: np.ndarray
    attrs: dict[str, str | int]

    @classmethod
    def of(cls, job: _Job) -> _Entry:
        height, width = job.tiles.image_size
        attrs = {
            "source": str(job.path),
            "image_sha256": job.digest,
            "image_height": height,
            "image_width": width,
            "patch_size": job.tiles.images.shape[1],
        }
        return cls(job.digest, job.pooled, job.maps, job.tiles.coords, attrs)


def _store(cache: FeatureCache, entry: _Entry, levels: tuple[Level, ...]) -> None:
    if "layer3" in levels:
        cache.write(entry.digest, "layer3", entry.maps, entry.coords, entry.attrs)
    cache.write(entry.digest, "pooled", entry.pooled, entry.coords, entry.attrs)
