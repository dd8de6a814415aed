"""Filling the feature cache from several Ray workers at once: one shard per GPU, or per CPU slot."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path

import ray
import torch
from tqdm.auto import tqdm

from leukmodel.config import Config
from leukmodel.distributed.cluster import cluster_cpus, cluster_gpus
from leukmodel.features import FeaturizeReport, featurize

logger = logging.getLogger(__name__)


def shard(paths: Sequence[Path], n: int) -> list[list[Path]]:
    """``n`` interleaved shards of similar size (neighbouring files, often one patient, spread across workers)."""
    return [list(paths[i::n]) for i in range(n) if paths[i::n]]


def n_workers(config: Config) -> int:
    """One worker per GPU share where Ray has GPUs, else one per ``ray.featurize_cpus`` CPUs."""
    gpus = cluster_gpus()
    if gpus > 0 and config.ray.gpus_per_trial > 0:
        return max(1, math.floor(gpus / config.ray.gpus_per_trial))
    return max(1, math.floor(cluster_cpus() / shard_cpus(config)))


def shard_cpus(config: Config) -> float:
    """CPUs of one shard: ``ray.featurize_cpus``, or all the cluster has when that is less."""
    return min(config.ray.featurize_cpus, cluster_cpus())


def featurize_on_ray(paths: Sequence[Path], config: Config, progress: bool = True) -> FeaturizeReport:
    """Featurize ``paths`` in shards on Ray workers that all fill the same content-addressed cache.

    Each shard is a Ray task running :func:`leukmodel.features.featurize`; shards are several per worker so that
    progress is visible and a failed task (retried up to ``ray.max_failures`` times) redoes little. Returns the
    shards' reports merged into one, with the wall time of the whole call.
    """
    start = time.perf_counter()
    paths = sorted({Path(p) for p in paths})
    if not paths:
        raise ValueError("no images to featurize")
    workers = n_workers(config)
    shards = shard(paths, min(len(paths), workers * 4))
    use_gpu = cluster_gpus() > 0 and config.ray.gpus_per_trial > 0
    task = _featurize_shard.options(
        num_cpus=shard_cpus(config),
        num_gpus=config.ray.gpus_per_trial if use_gpu else 0,
        max_retries=config.ray.max_failures,
    )
    logger.info("featurizing %d images in %d shards on %d Ray workers", len(paths), len(shards), workers)
    threads = max(1, int(shard_cpus(config)))
    pending = [task.remote(s, config, threads) for s in shards]
    reports: list[FeaturizeReport] = []
    with tqdm(total=len(paths), desc="featurize", unit="img", disable=not progress) as bar:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            report = ray.get(done[0])
            reports.append(report)
            bar.update(report.images)
    return merge_reports(reports, seconds=time.perf_counter() - start)


@ray.remote
def _featurize_shard(paths: list[Path], config: Config, threads: int) -> FeaturizeReport:
    torch.set_num_threads(threads)
    return featurize(paths, config, progress=False)


def merge_reports(reports: list[FeaturizeReport], seconds: float) -> FeaturizeReport:
    first = reports[0]
    return FeaturizeReport(
        backbone=first.backbone,
        precision=first.precision,
        device=first.device,
        cache_dir=first.cache_dir,
        images=sum(r.images for r in reports),
        hits=sum(r.hits for r in reports),
        misses=sum(r.misses for r in reports),
        tiles=sum(r.tiles for r in reports),
        forward_passes=sum(r.forward_passes for r in reports),
        skipped=[s for r in reports for s in r.skipped],
        seconds=seconds,
    )
