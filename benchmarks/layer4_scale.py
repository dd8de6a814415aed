"""Layer4 fine-tuning at cohort scale: streamed layer3 maps from the real cache, peak RSS and the cost of an epoch.

A cohort of ``--bags`` one-image bags (10,000) of ``--tiles`` tiles (9) is written at the layer3 level into the
real feature cache (one HDF5 entry per image, keyed by the image file's SHA-256, as ``leukmodel featurize``
writes them with ``features.store_layer3``): ``(C, h, w)`` float16 maps of ``--arch`` at ``--patch`` px
(resnet18 at 64 px: 256 x 4 x 4, 8 KB per tile; ResNet-50 at 224 px would be 1024 x 14 x 14, 401 KB), with a
planted class signal. Then, on the training part of fold 0, the image-only model with ``training.finetune_layer4``:

- ``load_bags(level="layer3")`` of the whole cohort (streamed: entry paths and coordinates only) and the size
  of the bags pickled, as Ray Tune sends them to its trials;
- the tile standardisation fit through layer4 (streamed in prediction batches) on ``--norm-bags`` training bags
  (a run fits it on all of them: the time scales with the bags, the memory does not);
- one training epoch (``bags_per_step`` ``--batch-size``, at most ``max_tiles_per_bag`` tiles per bag) through
  the real ``fit`` loop on ``--subset`` training bags, extrapolated per bag to the training part;
- one prediction pass over the validation and test parts (packed, streamed), as every epoch and the test do.

Peak RSS is the process's high-water mark (``ru_maxrss``) over all of it. The cost per epoch is projected for a
GPU from the layer4 FLOPs per tile (counted with ``torch.utils.flop_counter``) at ``--gpu-tflops`` sustained
plus the maps read per epoch at ``--read-gbs`` (a step reads its maps, then computes), for this backbone and for
ResNet-50 at 224 px. Last line
``peak_rss_gb=X epoch_s_here=Y epoch_s_gpu_r50_224=Z bags=N`` (goal: peak RSS <= 4 GB).

    python benchmarks/layer4_scale.py [--bags 10000] [--arch resnet18] [--patch 64] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import torch
from cv_scale import CLASSES, FOLDS, peak_rss_gb
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import resnet50

from leukmodel.config import config_from_dict
from leukmodel.data.cohort import Cohort, Sample
from leukmodel.features import feature_cache, load_backbone, load_bags
from leukmodel.features.cache import file_sha256
from leukmodel.training.seeding import seed_everything
from leukmodel.training.splits import make_folds
from leukmodel.training.trainer import fit, fit_standardizers, make_model, predict, prepare_items

R50_TILE = (1024, 14, 14)  # ResNet-50 layer3 maps of a 224 px tile


def write_cohort(root: Path, config, n_bags: int, n_tiles: int, tile: tuple[int, ...]) -> Cohort:
    """``n_bags`` one-image samples (10 per patient) whose layer3 maps are in the cache."""
    rng = np.random.default_rng(0)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    cache = feature_cache(config)
    cache.prepare()
    labels = rng.integers(0, len(CLASSES), n_bags)
    direction = rng.normal(size=tile).astype(np.float32)
    step = config.tiles.patch_size // 2
    coords = np.array([[x * step, y * step] for y in range(3) for x in range(3)][:n_tiles], np.int64)
    samples = []
    for k in range(n_bags):
        path = images / f"bag{k:05d}.bmp"  # stands in for the image: the cache is keyed by its bytes
        if not path.is_file():
            path.write_bytes(f"layer4-scale image {k}".encode())
        digest = file_sha256(path)
        if not cache.path(digest, "layer3").is_file():
            maps = np.abs(rng.normal(size=(n_tiles, *tile))).astype(np.float32)
            maps[: n_tiles // 3] += 0.5 * labels[k] * np.abs(direction)  # a third of the tiles carry the class
            cache.write(digest, "layer3", maps.astype(np.float16), coords, {"image": path.name})
        samples.append(Sample(f"S{k:05d}", f"P{k // 10:04d}", CLASSES[labels[k]], (path,)))
    return Cohort("layer4-scale", samples, CLASSES, synthetic=True)


def layer4_flops(layer4: torch.nn.Module, tile: tuple[int, ...]) -> float:
    """FLOPs of layer4 forward + backward on one tile's maps (pooled output, as training runs it)."""
    maps = torch.zeros(2, *tile, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        layer4(maps).mean().backward()
    return counter.get_total_flops() / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bags", type=int, default=10_000)
    parser.add_argument("--tiles", type=int, default=9)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--patch", type=int, default=64, help="tile size in px (layer3 maps are patch / 16 wide)")
    parser.add_argument("--batch-size", type=int, default=16, help="training.bags_per_step")
    parser.add_argument("--subset", type=int, default=512, help="training bags of the timed epoch")
    parser.add_argument("--norm-bags", type=int, default=2000, help="training bags of the timed standardisation fit")
    parser.add_argument("--gpu-tflops", type=float, default=100.0, help="sustained bf16 TFLOP/s assumed on a GPU")
    parser.add_argument("--read-gbs", type=float, default=2.0, help="GB/s assumed for reading maps from the cache")
    parser.add_argument("--workdir", type=Path, help="keep the cohort and cache here (default: a temporary folder)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with TemporaryDirectory() as tmp:
        root = args.workdir or Path(tmp)
        config = config_from_dict(
            {
                "name": "layer4-scale",
                "data": {"images": {"format": "folder", "root": str(root / "images")}},
                "backbone": {"arch": args.arch, "weights": "none"},
                "tiles": {"patch_size": args.patch},
                "features": {"cache_dir": str(root / "feature-cache"), "device": "cpu", "store_layer3": True},
                "training": {"device": "cpu", "finetune_layer4": True, "bags_per_step": args.batch_size},
            }
        )
        resnet, info = load_backbone(config.backbone)
        side = args.patch // 16
        tile = (info.layer3_channels, side, side)
        tile_bytes = int(np.prod(tile)) * 2
        print(f"baseline (imports, backbone) peak RSS {peak_rss_gb():.2f} GB", flush=True)
        start = time.perf_counter()
        cohort = write_cohort(root, config, args.bags, args.tiles, tile)
        maps_gb = args.bags * args.tiles * tile_bytes / 1e9
        print(
            f"cache: {args.bags} bags of {args.tiles} x {tile} fp16 maps ({maps_gb:.2f} GB) in "
            f"{time.perf_counter() - start:.0f} s",
            flush=True,
        )

        start = time.perf_counter()
        bags = load_bags(cohort, config, level="layer3")
        load_s = time.perf_counter() - start
        pickled = len(pickle.dumps(dict(bags)))
        print(
            f"load_bags(level='layer3'): {load_s:.1f} s, bags pickled {pickled / 1e6:.1f} MB "
            f"(maps {maps_gb:.2f} GB stay in the cache); peak RSS {peak_rss_gb():.2f} GB",
            flush=True,
        )

        fold = make_folds(cohort, FOLDS, config.cv.val_fraction, config.seed)[0]
        train = prepare_items(cohort, bags, fold.train, "image")
        held_out = prepare_items(cohort, bags, [*fold.val, *fold.test], "image")
        model, _ = make_model("image", cohort, train, config, None)
        start = time.perf_counter()
        fit_standardizers(model, train[: args.norm_bags], torch.device("cpu"))
        norm_s = (time.perf_counter() - start) / min(args.norm_bags, len(train)) * len(train)
        print(
            f"tile standardisation: {norm_s:.0f} s for {len(train)} training bags (timed on {args.norm_bags}); "
            f"peak RSS {peak_rss_gb():.2f} GB",
            flush=True,
        )

        epoch_config = config.model_copy(deep=True)
        epoch_config.training.max_epochs = 1
        subset = train[: args.subset]
        start = time.perf_counter()
        fit(model, subset, [], epoch_config, torch.device("cpu"), seed_everything(0))
        per_bag = (time.perf_counter() - start) / len(subset)
        start = time.perf_counter()
        predict(model, held_out, torch.device("cpu"))
        per_predicted = (time.perf_counter() - start) / len(held_out)
        epoch_here = per_bag * len(train) + per_predicted * len(fold.val)
        print(
            f"epoch (B={args.batch_size}): {1e3 * per_bag:.1f} ms per training bag (timed on {len(subset)}), "
            f"{1e3 * per_predicted:.1f} ms per predicted bag ({len(held_out)} validation + test bags); "
            f"{epoch_here:.0f} s per epoch over {len(train)} + {len(fold.val)} bags here; "
            f"peak RSS {peak_rss_gb():.2f} GB",
            flush=True,
        )

        tiles_read = min(args.tiles, config.training.max_tiles_per_bag) * len(train) + args.tiles * len(fold.val)
        gpu = {}
        for name, layer4, shape in (
            (f"{args.arch} {args.patch} px", resnet.layer4, tile),
            ("resnet50 224 px", resnet50().layer4, R50_TILE),
        ):
            flops = layer4_flops(layer4, shape)
            compute = tiles_read * flops / (args.gpu_tflops * 1e12)
            read = tiles_read * int(np.prod(shape)) * 2 / (args.read_gbs * 1e9)
            gpu[name] = compute + read  # a step reads its maps, then computes: not overlapped
            print(
                f"{name}: layer4 {flops / 1e9:.2f} GFLOP per tile (fwd + bwd); GPU epoch {gpu[name]:.0f} s "
                f"(compute {compute:.0f} s at {args.gpu_tflops:.0f} TFLOP/s, reading "
                f"{tiles_read * int(np.prod(shape)) * 2 / 1e9:.1f} GB of maps {read:.0f} s at {args.read_gbs} GB/s)"
            )
        print(f"goal: peak RSS <= 4 GB for {args.bags} bags")
        print(
            f"peak_rss_gb={peak_rss_gb():.2f} epoch_s_here={epoch_here:.0f} "
            f"epoch_s_gpu_r50_224={gpu['resnet50 224 px']:.0f} bags={args.bags}"
        )


if __name__ == "__main__":
    main()
