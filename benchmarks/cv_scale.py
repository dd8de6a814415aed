"""Cross-validation at C-NMC scale on cached features: one bag per step vs packed bags, load time and peak RSS.

A cohort the size of C-NMC's training folds is written at the feature level: ``--bags`` bags (10,661) of
``--tiles`` tiles (9: a 450 px image tiled at 224 px with 50% overlap) of 2048-d features, with a planted class
signal in the features and in an expression profile per bag. The features go into the real feature cache (one
HDF5 entry per image, keyed by the image file's SHA-256, as ``leukmodel featurize`` writes them), so
``load_bags`` is timed as a run would read them. Then, per model (fusion, image-only, genomic-only), on the
training part of fold 0:

- the set-up of a trial (genomic transform, tensors, tile standardisation) at full size;
- training time per bag at ``bags_per_step`` 1 and at each of ``--batch-sizes``, through the real ``fit`` loop
  (one epoch), on a subset of the training bags (``--subset-b1`` bags for B = 1, ``--subset`` for B > 1) and
  extrapolated per bag to the whole training part (said so in the output);
- one validation pass over the whole validation part (packed, as every epoch does it).

The best B is the one with the lowest total epoch time of the three models. Projected 5-fold x 3-model CV wall
time = 5 x sum over models of (set-up + ``--epochs`` x epoch + test prediction), one trial at a time on one
thread (``--device cuda`` trains on the GPU, ``--precision`` sets ``training.precision``); on a CPU, then divided
among ``--concurrent`` trials at once (default: the cores, as Ray Tune runs them with ``ray.cpus_per_trial: 1``)
and multiplied by the slow-down they cause one another, measured by running that many fusion epochs at the best
B at once in forked processes. On a GPU the projection is one trial at a time (``gpu_check.sh`` times two trials
sharing the GPU through Ray Tune). The last line's projection is this one. Peak RSS is the process's high-water mark
(``ru_maxrss``) over all of it.

A floor under any projection: the floating-point operations of the matrix products of a training step and of a
prediction per bag (``torch.utils.flop_counter``, on a packed batch of the fold's bags), summed over the CV, at
the rate this thread (or the GPU) does one large matrix product of a tile-feature layer's shape in the
training's precision, on all ``--concurrent`` cores (one GPU), with nothing else (no optimiser, element-wise
work, dropout or data handling). Last line
``ratio_vs_per_bag=X projected_cv_min=Y peak_rss_gb=Z floor_cv_min=F`` (goals: ratio >= 10, projected <= 20
min, peak RSS <= 2 GB).

    python benchmarks/cv_scale.py [--bags 10661] [--epochs 25] [--batch-sizes 16,64,256] [--concurrent 2]
        [--tile-dim 512]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from feature_extraction import synchronize
from torch.utils.flop_counter import FlopCounterMode

from leukmodel.config import config_from_dict
from leukmodel.data.cohort import Cohort, Sample
from leukmodel.device import resolve_device
from leukmodel.features import load_bags
from leukmodel.features.backbone import load_backbone
from leukmodel.features.cache import FeatureCache, cache_settings, file_sha256
from leukmodel.features.device import resolve_precision
from leukmodel.genomics.transform import GenomicTransform
from leukmodel.models.loss import mil_loss
from leukmodel.models.registry import MODELS, served_models, uses_expression
from leukmodel.training.packing import pack
from leukmodel.training.precision import autocast_dtype
from leukmodel.training.seeding import seed_everything
from leukmodel.training.splits import make_folds
from leukmodel.training.trainer import fit, fit_standardizers, make_model, predict
from leukmodel.training.trainer import prepare_items as items_of

CLASSES = ("ALL", "HEM")
FOLDS = 5
#: The fusion model and its two single-modality baselines: the models a served model holds.
TIMED = served_models(MODELS)
#: What the forked workers of :func:`concurrent_seconds` read (set before the fork, shared copy-on-write).
_SHARED: dict = {}


def peak_rss_gb() -> float:
    """The process's peak resident set size (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def write_cohort(root: Path, n_bags: int, n_tiles: int, dim: int, n_genes: int, config) -> Cohort:
    """``n_bags`` one-image samples (10 per patient) with cached features, and their expression profiles."""
    rng = np.random.default_rng(0)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    _, info = load_backbone(config.backbone)
    precision = resolve_precision(config.features.precision, resolve_device(config.features.device))
    cache = FeatureCache(config.features.cache_dir, cache_settings(config.tiles, info, precision))
    cache.prepare()
    labels = rng.integers(0, len(CLASSES), n_bags)
    direction = rng.normal(size=dim).astype(np.float32)
    coords = np.array([[x, y] for y in (0, 112, 224) for x in (0, 112, 224)][:n_tiles], np.int64)
    samples, profiles = [], []
    for k in range(n_bags):
        path = images / f"bag{k:05d}.bmp"  # stands in for the image: the cache is keyed by its bytes
        if not path.is_file():
            path.write_bytes(f"cv-scale image {k}".encode())
        features = rng.normal(size=(n_tiles, dim)).astype(np.float32)
        features[: n_tiles // 3] += 0.5 * (2 * labels[k] - 1) * direction  # a third of the tiles carry the class
        digest = file_sha256(path)
        if not cache.path(digest, "pooled").is_file():
            cache.write(digest, "pooled", features, coords, {"image": path.name})
        profile = rng.lognormal(3.0, 1.0, n_genes)
        profile[:20] *= 2.0 if labels[k] else 0.5
        profiles.append(profile)
        patient = f"P{k // 10:04d}"
        samples.append(Sample(f"S{k:05d}", patient, CLASSES[labels[k]], (path,), f"S{k:05d}"))
    genes = [f"G{g:04d}" for g in range(n_genes)]
    expression = pd.DataFrame(np.array(profiles, np.float32), index=[s.sample_id for s in samples], columns=genes)
    return Cohort("cv-scale", samples, CLASSES, expression, synthetic=True)


def epoch_seconds(name, cohort, bags, config, train_ids, val_ids, subset, batch_size, device) -> float:
    """Seconds of one training epoch per training bag at ``bags_per_step = batch_size`` (through ``fit``)."""
    config = config.model_copy(deep=True)
    config.training.bags_per_step = batch_size
    config.training.max_epochs = 1
    transform = None
    if uses_expression(name):
        transform = GenomicTransform(config.genomic.log_transform, config.genomic.n_components)
        transform.fit(cohort.expression.loc[list(train_ids[:2000])])
    train = items_of(cohort, bags, train_ids[:subset], name)
    val = items_of(cohort, bags, val_ids[:64], name)
    model, _ = make_model(name, cohort, train, config, transform)
    model.to(device)
    fit_standardizers(model, train, device)
    dtype = autocast_dtype(config.training.precision, device)
    _, val_seconds = predict(model, val, device, dtype)
    start = time.perf_counter()
    fit(model, train, val, config, device, seed_everything(0))
    return (time.perf_counter() - start - val_seconds * len(val)) / len(train)


def flops_per_bag(model, items, config, device) -> tuple[float, float]:
    """Floating-point operations of the matrix products (``FlopCounterMode``) per bag: a training step (forward,
    loss, backward) and a prediction, counted on one packed batch of ``items``."""
    batch = pack([i.tiles() for i in items], [i.expression for i in items], [i.label for i in items], device)
    model.train()
    with FlopCounterMode(display=False) as train:
        output = model.forward_packed(batch.features, batch.expression, batch.mask)
        mil_loss(output, batch.labels, config.training.kl_lambda, batch.mask).backward()
    model.zero_grad(set_to_none=True)
    model.eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as forward:
        model.forward_packed(batch.features, batch.expression, batch.mask)
    return train.get_total_flops() / len(items), forward.get_total_flops() / len(items)


def gemm_flops_per_second(
    rows: int, device: torch.device, dtype: torch.dtype | None, inner: int = 2048, cols: int = 512, repeats: int = 20
) -> float:
    """The rate of one large matrix product on this thread or GPU, a tile-feature layer's shape (``rows`` tiles of
    ``inner`` features by ``cols`` units), in the training's autocast ``dtype`` (fp32 if none): about the most
    this core or GPU does on the model's own shapes."""
    a = torch.randn(rows, inner, device=device, dtype=dtype or torch.float32)
    b = torch.randn(inner, cols, device=device, dtype=dtype or torch.float32)
    for _ in range(3):
        a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * rows * inner * cols * repeats / (time.perf_counter() - start)


def _epoch_in_worker(name: str) -> float:
    return epoch_seconds(name, **_SHARED)


def concurrent_seconds(name: str, workers: int, **shared) -> list[float]:
    """Per-bag epoch seconds of ``workers`` copies of the same trial run at once in forked processes, one thread
    each: what Ray Tune's concurrent trials (``ray.cpus_per_trial: 1``) cost one another on this machine."""
    _SHARED.update(shared)
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.map(_epoch_in_worker, [name] * workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bags", type=int, default=10_661)
    parser.add_argument("--tiles", type=int, default=9)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=25, help="epochs per trial in the projection")
    parser.add_argument("--batch-sizes", default="16,64,256")
    parser.add_argument("--subset-b1", type=int, default=256, help="training bags timed at B = 1")
    parser.add_argument("--subset", type=int, default=2048, help="training bags timed at B > 1")
    parser.add_argument(
        "--concurrent",
        type=int,
        help="trials at once in the projection (default: the cores on a CPU, one trial on a GPU)",
    )
    parser.add_argument("--device", default="cpu", help="training.device (cpu, cuda, auto)")
    parser.add_argument("--precision", default="fp32", help="training.precision (fp32, auto, bf16, fp16)")
    parser.add_argument("--tile-dim", type=int, help="model.tile_dim: project tiles to this size (default: none)")
    parser.add_argument("--workdir", type=Path, help="keep the cohort and cache here (default: a temporary folder)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workdir or Path(tmp)
        values = {
            "name": "cv-scale",
            "data": {"images": {"format": "folder", "root": str(root / "images")}},
            "backbone": {"arch": "resnet50", "weights": "none"},
            "features": {"cache_dir": str(root / "feature-cache"), "device": "cpu"},
            "training": {"device": args.device, "precision": args.precision},
            "model": {"tile_dim": args.tile_dim},
        }
        config = config_from_dict(values)
        start = time.perf_counter()
        cohort = write_cohort(root, args.bags, args.tiles, args.dim, args.genes, config)
        print(
            f"wrote {args.bags} bags of {args.tiles} x {args.dim} features to the cache: "
            f"{time.perf_counter() - start:.0f} s"
        )
        start = time.perf_counter()
        bags = load_bags(cohort, config)
        load_s = time.perf_counter() - start
        print(f"load_bags: {load_s:.1f} s, peak RSS {peak_rss_gb():.2f} GB", flush=True)
        device = resolve_device(config.training.device, field="training.device")
        dtype = autocast_dtype(config.training.precision, device)
        concurrent = args.concurrent or (os.cpu_count() if device.type == "cpu" else 1)
        if device.type != "cpu" and concurrent > 1:
            parser.error("--concurrent > 1 is measured on a CPU only (gpu_check.sh times trials sharing a GPU)")
        fold = make_folds(cohort, FOLDS, config.cv.val_fraction, config.seed)[0]
        train_ids, val_ids, test_ids = list(fold.train), list(fold.val), list(fold.test)
        print(f"fold 0: {len(train_ids)} training, {len(val_ids)} validation, {len(test_ids)} test bags")
        width = f"projected to {args.tile_dim} (model.tile_dim)" if args.tile_dim else "at their own size"
        print(f"the models read the {args.dim}-d tile features {width}")
        sizes = [1, *(int(b) for b in args.batch_sizes.split(","))]
        per_bag: dict[tuple[str, int], float] = {}
        setup: dict[str, float] = {}
        flops: dict[str, tuple[float, float]] = {}
        val_s: dict[str, float] = {}
        test_s: dict[str, float] = {}
        for name in TIMED:
            start = time.perf_counter()
            transform = None
            if uses_expression(name):
                transform = GenomicTransform(config.genomic.log_transform, config.genomic.n_components)
                transform.fit(cohort.expression.loc[train_ids])
            train = items_of(cohort, bags, train_ids, name)
            model, _ = make_model(name, cohort, train, config, transform)
            model.to(device)
            fit_standardizers(model, train, device)
            setup[name] = time.perf_counter() - start
            flops[name] = flops_per_bag(model, train[:64], config, device)
            _, seconds = predict(model, items_of(cohort, bags, val_ids, name), device, dtype)
            val_s[name] = seconds * len(val_ids)
            test_s[name] = seconds * len(test_ids)
            del train, model
            for b in sizes:
                subset = args.subset_b1 if b == 1 else args.subset
                per_bag[name, b] = epoch_seconds(name, cohort, bags, config, train_ids, val_ids, subset, b, device)
                print(
                    f"{name:8s} B={b:<4d} {1e3 * per_bag[name, b]:7.2f} ms per training bag "
                    f"(timed on {min(subset, len(train_ids))} bags, extrapolated to {len(train_ids)}); "
                    f"set-up {setup[name]:.1f} s, validation pass {val_s[name]:.1f} s; peak RSS {peak_rss_gb():.2f} GB",
                    flush=True,
                )

        def epoch(name: str, b: int) -> float:
            return per_bag[name, b] * len(train_ids) + val_s[name]

        totals = {b: sum(epoch(name, b) for name in TIMED) for b in sizes}
        best = min(sizes[1:], key=totals.__getitem__)
        ratio = totals[1] / totals[best]
        trial = {b: sum(setup[n] + args.epochs * epoch(n, b) + test_s[n] for n in TIMED) for b in (1, best)}
        projected = {b: FOLDS * trial[b] / 60 for b in trial}
        for b in sizes:
            parts = ", ".join(f"{n} {epoch(n, b):.0f} s" for n in TIMED)
            print(f"B={b:<4d} epoch of the {len(TIMED)} models on {len(train_ids)} bags: {totals[b]:.0f} s ({parts})")
        print(f"best B = {best}: {ratio:.1f}x faster per epoch than one bag per step")
        print(
            f"projected {FOLDS}-fold x 3-model CV at {args.epochs} epochs, one trial at a time, one thread, {device}: "
            f"B=1 {projected[1]:.0f} min, B={best} {projected[best]:.0f} min (load_bags {load_s:.0f} s once)"
        )
        slowdown = 1.0
        if concurrent > 1:  # on a CPU only (refused above on a GPU)
            shared = dict(
                cohort=cohort,
                bags=bags,
                config=config,
                train_ids=train_ids,
                val_ids=val_ids,
                subset=args.subset,
                batch_size=best,
                device=device,
            )
            alone = per_bag[TIMED[0], best]
            together = concurrent_seconds(TIMED[0], concurrent, **shared)
            slowdown = float(np.mean(together)) / alone
            print(
                f"{concurrent} {TIMED[0]} trials at once, one thread each: "
                + ", ".join(f"{1e3 * t:.2f}" for t in together)
                + f" ms per training bag against {1e3 * alone:.2f} alone: {slowdown:.2f}x slower each"
            )
        projected_now = projected[best] * slowdown / concurrent
        print(
            f"projected with {concurrent} trial(s) at once (Ray Tune, ray.cpus_per_trial: 1"
            f"{'' if device.type == 'cpu' else f', one {device.type} device'}), B={best}: {projected_now:.0f} min"
        )
        for name in TIMED:
            print(
                f"{name:8s} matrix products: {flops[name][0] / 1e6:.1f} MFLOP per training bag (forward + backward), "
                f"{flops[name][1] / 1e6:.1f} per predicted bag"
            )
        cv_flops = FOLDS * sum(
            args.epochs * (flops[n][0] * len(train_ids) + flops[n][1] * len(val_ids)) + flops[n][1] * len(test_ids)
            for n in TIMED
        )
        rate = gemm_flops_per_second(best * args.tiles, device, dtype)
        floor = cv_flops / (rate * concurrent) / 60
        unit = "cores" if device.type == "cpu" else "trials on the GPU"
        print(
            f"floor: the CV's matrix products, {cv_flops / 1e12:.0f} TFLOP, at this {device.type}'s rate for one "
            f"large matrix product ({rate / 1e9:.0f} GFLOP/s, {dtype or torch.float32}) on {concurrent} {unit} "
            f"with nothing else: {floor:.3g} min"
        )
        print(f"goals: ratio >= 10, projected <= 20 min, peak RSS <= 2 GB; python {sys.version.split()[0]}")
        print(
            f"ratio_vs_per_bag={ratio:.1f} projected_cv_min={projected_now:.1f} peak_rss_gb={peak_rss_gb():.2f} "
            f"floor_cv_min={floor:.3g}"
        )


if __name__ == "__main__":
    main()
